package loopkit

import (
	"context"
	"sync"
)

// Group counts the goroutines (or threads) an engine starts and lets
// Shutdown wait for zero with a deadline (sync.WaitGroup has no bounded
// wait and forbids Add racing Wait at zero). Any goroutine may call any
// method. The zero value is ready to use.
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

// Count is the number of goroutines counted and not yet done.
func (g *Group) Count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
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
