package serial

import (
	"context"
	"sync"
)

// Group counts the goroutines an engine starts and lets Shutdown wait for
// zero with a deadline (sync.WaitGroup has no bounded wait and forbids Add
// racing Wait at zero). The zero value is ready to use.
type Group struct {
	mu   sync.Mutex
	n    int
	zero chan struct{}
}

// Add counts one goroutine about to start.
func (g *Group) Add() {
	g.mu.Lock()
	g.n++
	g.mu.Unlock()
}

// Done counts one goroutine gone.
func (g *Group) Done() {
	g.mu.Lock()
	g.n--
	if g.n == 0 && g.zero != nil {
		close(g.zero)
		g.zero = nil
	}
	g.mu.Unlock()
}

// Wait returns nil once the count is zero, or ctx's error first.
func (g *Group) Wait(ctx context.Context) error {
	g.mu.Lock()
	if g.n == 0 {
		g.mu.Unlock()
		return nil
	}
	if g.zero == nil {
		g.zero = make(chan struct{})
	}
	ch := g.zero
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
