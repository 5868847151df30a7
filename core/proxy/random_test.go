package proxy

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// rpeer is one end of a randomized exchange: it sends its own stream in
// random pieces, pauses and resumes reading at random, and records what it
// receives.
type rpeer struct {
	conn    engine.Conn
	out     []byte // everything this end will send
	sent    int
	shut    bool // CloseWrite done
	reading bool // false while paused
	got     bytes.Buffer
	eof     bool
	closed  bool
	err     error
}

func (p *rpeer) OnOpen(c engine.Conn) { p.conn = c }
func (p *rpeer) OnData(c engine.Conn, in []byte) int {
	p.got.Write(in)
	return len(in)
}
func (p *rpeer) OnReadEOF(engine.Conn)            { p.eof = true }
func (p *rpeer) OnDrained(engine.Conn)            {}
func (p *rpeer) OnClose(_ engine.Conn, err error) { p.closed, p.err = true, err }

// step does one random action.
func (p *rpeer) step(r *rand.Rand) {
	if p.conn == nil || p.closed {
		return
	}
	switch r.IntN(4) {
	case 0, 1: // send a piece
		if p.sent < len(p.out) {
			n := min(1+r.IntN(6000), len(p.out)-p.sent)
			if p.conn.Write(p.out[p.sent:p.sent+n]) == nil {
				p.sent += n
			}
		} else if !p.shut {
			p.shut = true
			_ = p.conn.CloseWrite()
		}
	case 2: // toggle reading (a slow reader, now and then)
		c := p.conn
		if p.reading {
			p.reading = false
			_ = c.Execute(c.PauseRead)
		} else {
			p.reading = true
			_ = c.Execute(c.ResumeRead)
		}
	case 3:
	}
}

// finish sends what is left and reads everything.
func (p *rpeer) finish() bool {
	if p.closed || p.conn == nil {
		return true
	}
	if !p.reading {
		p.reading = true
		_ = p.conn.Execute(p.conn.ResumeRead)
	}
	if p.sent < len(p.out) {
		if p.conn.Write(p.out[p.sent:min(p.sent+4096, len(p.out))]) == nil {
			p.sent = min(p.sent+4096, len(p.out))
		}
		return false
	}
	if !p.shut {
		p.shut = true
		_ = p.conn.CloseWrite()
	}
	return true
}

// Randomized sessions with small buffers and pipes: whatever the order of
// writes, pauses and half-closes, every byte arrives once, in order, before
// EOF, in both directions, and every session ends (spec/proxy.md §3).
func TestRandomizedRelay(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			h := newHarness(t, `
global
    tune.bufsize 4096
defaults
    mode tcp
    timeout connect 1s
    timeout client 1h
    timeout server 1h
listen l
    bind 127.0.0.1:8000
    server s1 127.0.0.1:9000
`, 1024)
			var servers []*rpeer
			l, err := h.e.Listen("127.0.0.1:9000", func(c engine.Conn) engine.Handler {
				p := &rpeer{reading: true}
				servers = append(servers, p)
				return p
			})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			h.start()
			const n = 12
			var clients []*rpeer
			for i := 0; i < n; i++ {
				c := &rpeer{reading: true, out: pattern(r.IntN(60_000), byte(i))}
				if _, err := h.e.Dial("127.0.0.1:8000", c, engine.DialOptions{}); err != nil {
					t.Fatal(err)
				}
				h.settle()
				clients = append(clients, c)
			}
			if len(servers) != n {
				t.Fatalf("%d server conns", len(servers))
			}
			for i, s := range servers {
				s.out = pattern(r.IntN(60_000), byte(100+i))
			}
			pausedSeen := 0
			for step := 0; step < 3000; step++ {
				i := r.IntN(n)
				if r.IntN(2) == 0 {
					clients[i].step(r)
				} else {
					servers[i].step(r)
				}
				h.settle()
				if r.IntN(50) == 0 {
					h.advance(time.Millisecond)
				}
				for _, s := range h.sessions {
					if s.req.paused || s.res.paused {
						pausedSeen++
					}
				}
			}
			if pausedSeen == 0 {
				t.Error("backpressure never engaged: the test exercises nothing")
			}
			for round := 0; round < 10_000; round++ {
				done := true
				for i := 0; i < n; i++ {
					done = clients[i].finish() && done
					done = servers[i].finish() && done
				}
				h.settle()
				h.advance(10 * time.Millisecond)
				if done && h.p.Sessions() == 0 {
					break
				}
			}
			for i := 0; i < n; i++ {
				c, s := clients[i], servers[i]
				if c.closed || s.closed {
					t.Errorf("session %d: an end was reset (client %v, server %v)", i, c.err, s.err)
				}
				if !bytes.Equal(s.got.Bytes(), c.out) || !s.eof {
					t.Errorf("session %d: server got %d/%d bytes (equal prefix %v) eof=%v", i, s.got.Len(), len(c.out), bytes.HasPrefix(c.out, s.got.Bytes()), s.eof)
				}
				if !bytes.Equal(c.got.Bytes(), s.out) || !c.eof {
					t.Errorf("session %d: client got %d/%d bytes (equal prefix %v) eof=%v", i, c.got.Len(), len(s.out), bytes.HasPrefix(s.out, c.got.Bytes()), c.eof)
				}
			}
			if h.p.Sessions() != 0 {
				t.Errorf("%d sessions left", h.p.Sessions())
			}
		})
	}
}
