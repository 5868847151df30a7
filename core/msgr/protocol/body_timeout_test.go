package protocol

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/throttle"
)

// claimHeader is a MSG tag and a header (valid CRC) claiming data bytes.
func claimHeader(seq uint64, data uint32) []byte {
	h := wire.Header{Seq: seq, Tid: seq, Type: 0x7E01, Priority: 127, DataLen: data,
		Src: wire.EntityName{Type: wire.EntityClient, Num: 1}}
	return wire.AppendHeader([]byte{byte(wire.TagMsg)}, h, true)
}

// serverThrottles lists the four throttles a client's message takes on srv.
func serverThrottles(srv *Endpoint) map[string]*throttle.Throttle {
	pm, pb := srv.PolicyThrottles(wire.EntityClient)
	db, dm := srv.DispatchThrottles()
	return map[string]*throttle.Throttle{"policy msgs": pm, "policy bytes": pb, "dispatch bytes": db, "dispatch msgs": dm}
}

// checkThrottlesZeroOrHeld: an incomplete message still holds its
// throttles (the timer is off); a delivered one has returned them.
func checkThrottlesZeroOrHeld(t *testing.T, srv *Endpoint, held bool) {
	t.Helper()
	if !held {
		checkThrottlesZero(t, srv)
		return
	}
	for name, th := range serverThrottles(srv) {
		if th.Current() == 0 {
			t.Errorf("%s throttle holds nothing while a message body is incomplete", name)
		}
	}
}

func checkThrottlesZero(t *testing.T, srv *Endpoint) {
	t.Helper()
	for name, th := range serverThrottles(srv) {
		if c := th.Current(); c != 0 {
			t.Errorf("%s throttle holds %d after the stalled message was dropped", name, c)
		}
	}
}

// A message body that receives nothing for BodyProgressTimeout faults its
// socket and returns every throttle it held; one that keeps arriving, or
// waits for a throttle, does not. Lossy sessions close, lossless server
// sessions go to STANDBY (the peer resends what we never acknowledged).
func TestBodyProgressTimeout(t *testing.T) {
	const d = 5 * time.Second
	const claim = 1 << 20
	type step struct {
		send    int           // body bytes to send now (after the header)
		advance time.Duration // then move the clock
		closed  bool          // expected state afterwards
	}
	cases := []struct {
		name    string
		policy  string
		timeout time.Duration // Config.BodyProgressTimeout
		claim   uint32
		steps   []step
		state   string // the server session's state after a timeout ("" : gone)
	}{
		{"header only", "stateful_server", d, claim, []step{{0, d - time.Millisecond, false}, {0, 2 * time.Millisecond, true}}, "standby"},
		{"part of the body", "stateful_server", d, claim, []step{{64 << 10, d - time.Millisecond, false}, {0, 2 * time.Millisecond, true}}, "standby"},
		{"lossy session closes", "stateless_server", d, claim, []step{{1000, d, true}}, ""},
		{"progress restarts the clock", "stateful_server", d, claim, []step{
			{1000, d * 9 / 10, false}, {1000, d * 9 / 10, false}, {1000, d * 9 / 10, false}, {0, d / 5, true}}, "standby"},
		{"slow but steady completes", "stateful_server", d, claim, []step{
			{claim / 4, d - time.Second, false}, {claim / 4, d - time.Second, false}, {claim / 4, d - time.Second, false},
			{claim/4 + wire.FooterLen, 10 * d, false}}, ""},
		{"small split message", "stateful_server", d, 1000, []step{{10, d, true}}, "standby"},
		{"off", "stateful_server", -1, claim, []step{{1000, 100 * d, false}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, memengine.Options{})
			srv, rs := w.endpoint("osd.0", tc.policy, 1, func(c *Config) {
				c.BodyProgressTimeout = tc.timeout
				c.IdleTimeout = -1 // only the body timer may end the socket
				c.DefaultPolicy.ThrottleBytes, c.DefaultPolicy.ThrottleMessages = 64<<20, 100
			})
			addr := w.bind(srv)
			r, _ := openRaw(t, w, addr, 7, 1, 0, 0)
			full := wire.AppendMessage(nil, wire.Header{Seq: 1, Tid: 1, Type: 0x7E01, Priority: 127,
				Src: wire.EntityName{Type: wire.EntityClient, Num: 1}}, nil, nil, make([]byte, tc.claim), true, wire.CRCAll)
			hl := 1 + wire.HeaderLen
			body := full[hl:] // data and footer
			r.write(t, full[:hl])
			sent := 0
			for i, st := range tc.steps {
				if st.send > 0 {
					r.write(t, body[sent:sent+st.send])
					sent += st.send
				}
				w.settle()
				w.advance(st.advance)
				if r.isClosed() != st.closed {
					t.Fatalf("step %d: closed %v, want %v", i, r.isClosed(), st.closed)
				}
			}
			if !r.isClosed() {
				want := 0
				if sent == len(body) {
					want = 1
				}
				if rs.count() != want {
					t.Fatalf("delivered %d messages after sending %d of %d body bytes", rs.count(), sent, len(body))
				}
				checkThrottlesZeroOrHeld(t, srv, sent < len(body))
				return
			}
			if got := srv.C.BodyTimeouts.Load(); got != 1 {
				t.Errorf("BodyTimeouts %d, want 1", got)
			}
			if srv.C.BadInput.Load() != 0 {
				t.Error("a stalled body counted as bad input")
			}
			if rs.count() != 0 {
				t.Error("the stalled message was delivered")
			}
			checkThrottlesZero(t, srv)
			ss := srv.Sessions()
			switch {
			case tc.state == "" && len(ss) != 0:
				t.Errorf("lossy session still registered (%s)", ss[0].State())
			case tc.state != "" && (len(ss) != 1 || ss[0].State() != tc.state):
				t.Errorf("sessions %d, want one in %s", len(ss), tc.state)
			}
		})
	}
}

// The body timer starts once every throttle is held: a reader that waits
// for the dispatch throttle longer than the timeout is not faulted, and a
// peer that sent only the header is faulted one timeout after its grant
// (the grant takes the remaining throttles at once, not on the next read).
func TestBodyTimerStartsAfterThrottles(t *testing.T) {
	const d = 5 * time.Second
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, func(c *Config) {
		c.BodyProgressTimeout = d
		c.IdleTimeout = -1
		c.DispatchThrottleBytes = 1 << 20
	})
	rs.hold = true
	addr := w.bind(srv)
	cli, _ := w.endpoint("client.1", "lossless_client", 2, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	_ = s.SendMessage(msg(1, 1<<20)) // fills the dispatch throttle until released
	w.settle()
	if rs.count() != 1 {
		t.Fatal("the filling message was not delivered")
	}
	r, _ := openRaw(t, w, addr, 9, 1, 0, 0)
	r.write(t, claimHeader(1, 512<<10))
	w.settle()
	w.advance(3 * d)
	if r.isClosed() {
		t.Fatal("faulted while waiting for the throttle")
	}
	rs.release() // the grant: the staller holds every throttle from now
	w.settle()
	db, _ := srv.DispatchThrottles()
	if got := db.Current(); got != 512<<10 {
		t.Fatalf("dispatch bytes %d after the grant, want the staller's %d", got, 512<<10)
	}
	w.advance(d - time.Millisecond)
	if r.isClosed() {
		t.Fatal("faulted before its timeout")
	}
	w.advance(2 * time.Millisecond)
	if !r.isClosed() {
		t.Fatal("a header-only message held its grant past the timeout")
	}
	checkThrottlesZero(t, srv)
}

// K peers that each claim a large message and stall fill the dispatch
// throttle; a legitimate client's message waits behind them, and is
// delivered once the body timeout drops them and returns their bytes.
func TestStalledPeersReleaseThrottles(t *testing.T) {
	const (
		d     = 2 * time.Second
		k     = 20
		claim = 8 << 20
		limit = 64 << 20 // 8 claims fill it; 12 wait
	)
	w := newWorld(t, memengine.Options{})
	srv, rs := w.endpoint("osd.0", "stateful_server", 1, func(c *Config) {
		c.BodyProgressTimeout = d
		c.DispatchThrottleBytes = limit
		c.DefaultPolicy.ThrottleBytes, c.DefaultPolicy.ThrottleMessages = limit, 1000
	})
	rs.echo = true
	addr := w.bind(srv)
	part := make([]byte, 64<<10)
	var peers []*raw
	for i := range k {
		r, _ := openRaw(t, w, addr, uint32(100+i), 1, 0, 0)
		r.write(t, append(claimHeader(1, claim), part...))
		peers = append(peers, r)
	}
	w.settle()
	db, _ := srv.DispatchThrottles()
	if got := db.Current(); got != limit {
		t.Fatalf("dispatch bytes %d, want the stallers' %d", got, limit)
	}
	cli, rc := w.endpoint("client.1", "lossless_client", 2, nil)
	s := w.connect(cli, wire.EntityOSD, addr, true)
	_ = s.SendMessage(msg(1, 100))
	w.settle()
	if rc.count() != 0 {
		t.Fatal("the legitimate message passed a full throttle")
	}
	// Waves: 8 stallers time out at d, the next 8 take their bytes and
	// time out at 2d, the last 4 take 32 MiB and leave room for the
	// legitimate message (FIFO grants everything that fits).
	w.advance(2*d + time.Millisecond)
	if rc.count() != 1 {
		t.Fatalf("the legitimate echo did not come back within 2 timeouts (%d replies)", rc.count())
	}
	w.advance(d)
	for i, r := range peers {
		if !r.isClosed() {
			t.Errorf("staller %d still open", i)
		}
	}
	if got := srv.C.BodyTimeouts.Load(); got != k {
		t.Errorf("BodyTimeouts %d, want %d", got, k)
	}
	checkThrottlesZero(t, srv)
	_ = s.SendMessage(msg(2, 100))
	w.settle()
	checkInOrder(t, rc.tids(), 2)
}

// A body buffer grows with the bytes received, never allocated up front
// from the header's claim: at most twice what arrived plus 64 KiB.
func TestBodyBufferFollowsBytesReceived(t *testing.T) {
	t.Run("growth", func(t *testing.T) {
		for _, claim := range []int{maxPooledBody + 1, 1 << 20, 128 << 20} {
			k := &sock{bodyLen: claim}
			for _, n := range []int{1, 100, 4096, 60 << 10, 64 << 10, 200 << 10, 1 << 20} {
				if k.have+n > claim {
					n = claim - k.have - 1
				}
				if n <= 0 {
					break
				}
				if _, err := k.readBody(make([]byte, n)); err != nil {
					t.Fatal(err)
				}
				if len(k.body) < k.have || len(k.body) > max(2*k.have, maxPooledBody) || len(k.body) > claim {
					t.Fatalf("claim %d: %d bytes received, buffer %d", claim, k.have, len(k.body))
				}
			}
		}
	})
	t.Run("stallers", func(t *testing.T) {
		const k, claim, part = 20, 64 << 20, 100 << 10
		w := newWorld(t, memengine.Options{})
		srv, _ := w.endpoint("osd.0", "stateful_server", 1, func(c *Config) { c.DispatchThrottleBytes = 4 << 30 })
		addr := w.bind(srv)
		data := make([]byte, part)
		var rs []*raw
		var frames [][]byte
		for i := range k {
			r, _ := openRaw(t, w, addr, uint32(200+i), 1, 0, 0)
			rs = append(rs, r)
			frames = append(frames, append(claimHeader(1, claim), data...))
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i, r := range rs {
			r.write(t, frames[i])
		}
		w.settle()
		runtime.ReadMemStats(&after)
		db, _ := srv.DispatchThrottles()
		if db.Current() != k*claim {
			t.Fatalf("dispatch bytes %d: not every staller reached its body", db.Current())
		}
		// Received: 2 MiB; claimed: 1.25 GiB. Buffers ≤ 20 × (2 × 100 KiB + 64 KiB).
		if got := after.TotalAlloc - before.TotalAlloc; got > 32<<20 {
			t.Fatalf("allocated %d MiB for %d KiB received (claims %d MiB)", got>>20, k*part>>10, k*claim>>20)
		}
	})
}

// The error a body timeout faults with says what was missing and matches
// ErrBodyTimeout.
func TestBodyTimeoutError(t *testing.T) {
	err := error(&ProtocolError{Op: "accept", Peer: "p", Err: &BodyTimeoutError{Have: 10, Len: 100, After: time.Second}})
	if !errors.Is(err, ErrBodyTimeout) {
		t.Fatal("not ErrBodyTimeout")
	}
	if want := "msgr: accept p: msgr: message body made no progress: 10 of 100 bytes, none for 1s"; err.Error() != want {
		t.Fatalf("%q", err.Error())
	}
}
