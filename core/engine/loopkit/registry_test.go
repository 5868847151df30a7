package loopkit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

type testLn struct {
	log *[]string
	id  string
}

func (l *testLn) Close() error { *l.log = append(*l.log, "ln "+l.id); return nil }

type testConn struct {
	log *[]string
	id  string
	err error
}

func (c *testConn) CloseWith(err error) { *c.log = append(*c.log, "conn "+c.id); c.err = err }

func TestRegistryShutdownOrder(t *testing.T) {
	var r Registry[*testLn, *testConn]
	r.Init("test")
	var log []string
	l := &testLn{&log, "1"}
	c := &testConn{log: &log, id: "1"}
	gone := &testConn{log: &log, id: "gone"}
	if !r.AddListener(l) || !r.AddConn(c) || !r.AddConn(gone) {
		t.Fatal("Add refused before Shutdown")
	}
	r.RemoveConn(gone)
	if nl, nc := r.Len(); nl != 1 || nc != 1 {
		t.Fatalf("Len %d %d", nl, nc)
	}
	r.Add() // one engine goroutine, done after a while
	release := make(chan struct{})
	go func() { <-release; r.Done() }()
	waited := false
	errc := make(chan error)
	go func() {
		errc <- r.Shutdown(context.Background(), func(context.Context) error { waited = true; return nil })
	}()
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[0] != "ln 1" || log[1] != "conn 1" {
		t.Fatalf("close order %v, want listener then conn", log)
	}
	if !errors.Is(c.err, engine.ErrEngineClosed) || !waited {
		t.Fatalf("conn closed with %v, waited %v", c.err, waited)
	}
	if r.AddConn(&testConn{log: &log}) || r.AddListener(&testLn{&log, "2"}) || !r.Closed() {
		t.Fatal("Add accepted after Shutdown")
	}
	if err := r.ClosedError("dial", "1.2.3.4:5"); !errors.Is(err, engine.ErrEngineClosed) || err.Error() != "test: dial 1.2.3.4:5: "+engine.ErrEngineClosed.Error() {
		t.Fatalf("ClosedError = %v", err)
	}
}

func TestRegistryShutdownBounded(t *testing.T) {
	var r Registry[*testLn, *testConn]
	r.Init("test")
	r.Add() // never done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := r.Shutdown(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
	r.Done()
}

func TestGroupWaitRacesAdd(t *testing.T) {
	var g Group
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		g.Add()
		wg.Add(1)
		go func() { defer wg.Done(); g.Done() }()
	}
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if g.Count() != 0 {
		t.Fatalf("Count %d", g.Count())
	}
}
