package memengine

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// runScenario drives a busy scenario (several connections, partial reads,
// pauses, timers, half-closes, resets) with a seeded random source and
// returns its event log.
func runScenario(t *testing.T, seed uint64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	clk := NewFakeClock(time.Time{})
	e := New(Options{
		Clock:          clk,
		PipeBufferSize: 13,
		Config:         engine.Config{OutQueueLimit: 100, OutQueueHighWater: 50, OutQueueLowWater: 10},
	})
	defer func() { _ = e.Shutdown(t.Context()) }()
	log := &eventLog{}
	nServer := 0
	l, err := e.Listen("127.0.0.1:0", func(c engine.Conn) engine.Handler {
		nServer++
		name := fmt.Sprintf("s%d", nServer)
		chunk := 1 + nServer%5
		return &probe{name: name, log: log,
			onData: func(c engine.Conn, in []byte) int {
				n := min(chunk, len(in))
				// Echo what was consumed, backing off when full.
				if err := c.Write(in[:n]); err != nil {
					log.add("%s write: %v", name, err)
					c.PauseRead()
					return 0
				}
				return n
			},
			onDrained: func(c engine.Conn) { c.ResumeRead() },
			onReadEOF: func(c engine.Conn) {
				c.AfterFunc(time.Duration(chunk)*time.Millisecond, func() {
					log.add("%s linger over at %v", name, clk.Now().Sub(FakeEpoch))
					_ = c.CloseWrite()
				})
			},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var conns []engine.Conn
	for i := range 4 {
		p := &probe{name: fmt.Sprintf("c%d", i), log: log}
		c, err := e.Dial(l.Addr().String(), p, engine.DialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for step := range 60 {
		c := conns[rng.IntN(len(conns))]
		switch op := rng.IntN(25); {
		case op < 15:
			msg := strings.Repeat(string(rune('a'+step%26)), 1+rng.IntN(80))
			if err := c.Write([]byte(msg)); err != nil {
				log.add("step %d write: %v", step, err)
			}
		case op < 18:
			c.PauseRead()
		case op < 21:
			c.ResumeRead()
		case op < 24:
			clk.Advance(time.Duration(rng.IntN(3)) * time.Millisecond)
		default:
			if rng.IntN(4) == 0 {
				e.InjectReset(c)
			} else {
				_ = c.CloseWrite()
			}
		}
		if rng.IntN(3) == 0 {
			e.Settle()
		}
	}
	for _, c := range conns {
		c.ResumeRead()
	}
	clk.Advance(time.Second)
	return log.String()
}

// The same calls produce the same callbacks in the same order: two runs of
// a busy scenario give identical event logs, and another seed differs.
func TestSettleDeterminism(t *testing.T) {
	first := runScenario(t, 1)
	second := runScenario(t, 1)
	if first != second {
		a, b := strings.Split(first, "\n"), strings.Split(second, "\n")
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				t.Fatalf("runs diverge at event %d:\n  %q\n  %q", i, a[i], b[i])
			}
		}
		t.Fatalf("runs differ in length: %d and %d events", len(a), len(b))
	}
	lines := strings.Count(first, "\n") + 1
	for _, want := range []string{" data ", " eof", " close ", "linger over", " drained "} {
		if !strings.Contains(first, want) {
			t.Errorf("scenario never produced %q; it tests too little (%d events)", want, lines)
		}
	}
	if other := runScenario(t, 2); other == first {
		t.Fatal("a different seed gave the same log: the scenario ignores its input")
	}
}

// With a FakeClock the loop waits for Settle: calls made in between are all
// queued first, so two writes arrive as one OnData however the goroutines
// are scheduled.
func TestManualLoopBatchesCalls(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	c := f.dial(&probe{})
	f.expect("client open", "server open")
	f.write(c, "one ")
	f.write(c, "two")
	if got := c.OutQueued(); got != 7 {
		t.Fatalf("OutQueued before Settle %d, want 7: the loop ran without Settle", got)
	}
	f.e.Settle()
	f.expect(`server data "one two" consumed 7`)
}
