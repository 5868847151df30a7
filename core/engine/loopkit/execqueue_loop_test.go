package loopkit

import (
	"errors"
	"testing"

	"github.com/netmodels/netmodels/core/engine"
)

// TestExecQueueWake: Wake wakes an asleep queue once, like a push, and an
// awake or closed one never.
func TestExecQueueWake(t *testing.T) {
	var q ExecQueue
	q.Init(10)
	if !q.Wake() {
		t.Fatal("Wake of a new (asleep) queue: false")
	}
	if q.Wake() {
		t.Fatal("second Wake: true")
	}
	if wake, _ := q.Post(func() {}); wake {
		t.Fatal("push after Wake woke again")
	}
	q.Drain(10, nil)
	if !q.Idle() {
		t.Fatal("Idle false on an empty queue")
	}
	if !q.Wake() {
		t.Fatal("Wake after Idle: false")
	}
	q.Idle()
	q.Close()
	if q.Wake() {
		t.Fatal("Wake of a closed queue: true")
	}
}

// TestExecQueueCloseIfIdle: the leaving loop's drain-then-close runs every
// function accepted before the close, including ones queued meanwhile,
// and refuses the rest.
func TestExecQueueCloseIfIdle(t *testing.T) {
	var q ExecQueue
	q.Init(10)
	ran := 0
	q.Post(func() {
		ran++
		q.Execute(func() { ran++ }) // accepted before the close: runs
	})
	steps := 0
	for !q.CloseIfIdle() {
		q.Drain(1, nil)
		steps++
	}
	if ran != 2 || steps != 2 {
		t.Fatalf("ran %d in %d drains, want 2 in 2", ran, steps)
	}
	if _, err := q.Execute(func() { t.Error("ran after close") }); !errors.Is(err, engine.ErrEngineClosed) {
		t.Fatalf("Execute after CloseIfIdle: %v", err)
	}
	if _, err := q.Post(func() {}); !errors.Is(err, engine.ErrEngineClosed) {
		t.Fatalf("Post after CloseIfIdle: %v", err)
	}
}

// TestExecQueueExecuteFor: an owner's function is refused once the owner
// is closed; one accepted before runs ahead of an event posted after the
// owner was marked closed (the engine's OnClose); the Execute bound holds.
func TestExecQueueExecuteFor(t *testing.T) {
	var q ExecQueue
	q.Init(2)
	o := &owner{}
	var got []string
	if _, err := q.ExecuteFor(o, func() { got = append(got, "fn") }); err != nil {
		t.Fatalf("ExecuteFor: %v", err)
	}
	o.closed = true
	q.Post(func() { got = append(got, "OnClose") })
	if _, err := q.ExecuteFor(o, func() { got = append(got, "late") }); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("ExecuteFor a closed owner: %v, want ErrClosed", err)
	}
	q.Drain(10, nil)
	if len(got) != 2 || got[0] != "fn" || got[1] != "OnClose" {
		t.Fatalf("ran %v, want [fn OnClose]", got)
	}
	o2 := &owner{}
	q.ExecuteFor(o2, func() {})
	q.ExecuteFor(o2, func() {})
	if _, err := q.ExecuteFor(o2, func() {}); !errors.Is(err, engine.ErrExecuteQueueFull) {
		t.Fatalf("ExecuteFor past the limit: %v", err)
	}
}
