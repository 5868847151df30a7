package loopkit

import (
	"context"
	"fmt"
	"sync"

	"github.com/netmodels/netmodels/core/engine"
)

// Listener is what a Registry closes first on Shutdown.
type Listener interface {
	comparable
	Close() error
}

// Conn is what a Registry closes on Shutdown: CloseWith starts closing
// the connection with err (engine.ErrEngineClosed) and must not wait for
// the loop, since it may be called from anywhere, the loop included.
type Conn interface {
	comparable
	CloseWith(err error)
}

// Registry is an engine's live set of listeners and connections, its
// goroutine count (the embedded Group) and its closed flag, under one
// mutex so that nothing registers after Shutdown took its snapshot. All
// methods may be called from any goroutine. Call Init before use.
type Registry[L Listener, C Conn] struct {
	Group // every goroutine the engine starts

	name   string
	mu     sync.Mutex
	closed bool
	lns    map[L]struct{}
	conns  map[C]struct{}
}

// Init names the engine; its name prefixes the errors Registry makes.
func (r *Registry[L, C]) Init(name string) {
	r.name = name
	r.lns = make(map[L]struct{})
	r.conns = make(map[C]struct{})
}

// Name is the engine's name given to Init.
func (r *Registry[L, C]) Name() string { return r.name }

// Closed reports whether Shutdown has begun.
func (r *Registry[L, C]) Closed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// ClosedError is the error Listen and Dial return once Shutdown has
// begun: "<engine>: <op> <addr>: " followed by engine.ErrEngineClosed,
// which it wraps.
func (r *Registry[L, C]) ClosedError(op, addr string) error {
	return fmt.Errorf("%s: %s %s: %w", r.name, op, addr, engine.ErrEngineClosed)
}

// AddListener registers l; it reports false once Shutdown has begun (the
// caller then closes l and fails with ClosedError).
func (r *Registry[L, C]) AddListener(l L) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.lns[l] = struct{}{}
	return true
}

// RemoveListener forgets l (its Close).
func (r *Registry[L, C]) RemoveListener(l L) {
	r.mu.Lock()
	delete(r.lns, l)
	r.mu.Unlock()
}

// AddConn registers c; it reports false once Shutdown has begun (the
// caller then drops c without callbacks, or fails its Dial).
func (r *Registry[L, C]) AddConn(c C) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

// RemoveConn forgets c (its close).
func (r *Registry[L, C]) RemoveConn(c C) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
}

// Len is the number of live listeners and connections.
func (r *Registry[L, C]) Len() (listeners, conns int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lns), len(r.conns)
}

// Shutdown is engine.Engine's Shutdown order: mark closed (later Adds
// fail), close every listener so nothing new arrives, close every
// connection with engine.ErrEngineClosed, then wait, bounded by ctx, for
// the Group to reach zero and then for wait (nil: nothing more; an engine
// with threads of its own passes their join). Errors are wrapped with the
// engine's name. Calling it again repeats the wait.
func (r *Registry[L, C]) Shutdown(ctx context.Context, wait func(context.Context) error) error {
	r.mu.Lock()
	r.closed = true
	lns := make([]L, 0, len(r.lns))
	for l := range r.lns {
		lns = append(lns, l)
	}
	conns := make([]C, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	for _, l := range lns {
		_ = l.Close()
	}
	for _, c := range conns {
		c.CloseWith(engine.ErrEngineClosed)
	}
	err := r.Wait(ctx)
	if err == nil && wait != nil {
		err = wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("%s: shutdown: %w", r.name, err)
	}
	return nil
}
