package cli

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/cli/msgrjson"
	"github.com/netmodels/netmodels/core/msgr"
	"github.com/netmodels/netmodels/core/sleep"
)

// clientRun is the state one msgr-client run shares across its
// connections: what to send, the counters and the RTT histograms.
type clientRun struct {
	env      *Env
	pattern  []byte // random bytes; each ECHO's data is a slice of it
	size     msgrjson.Size
	depth    int
	rate     float64 // open-loop messages/s over all connections; 0: closed loop
	sent     atomic.Int64
	received atomic.Int64
	errors   atomic.Int64
	progress chan struct{} // a reply arrived (capacity 1: a wake-up, not a count)
	dead     chan struct{} // a lossy session closed: replies will never come
	rtt      *rttRecorder
}

// maxBacklog bounds open-loop sends waiting for a free depth slot; beyond
// it the generator skips sends (the server is far slower than --rate).
const maxBacklog = 1 << 16

func newClientRun(env *Env, conns int, size msgrjson.Size, depth int, rate float64) *clientRun {
	r := &clientRun{env: env, size: size, depth: depth, rate: rate,
		progress: make(chan struct{}, 1), dead: make(chan struct{}, 1), rtt: newRTTRecorder(conns)}
	r.pattern = make([]byte, size.Max+1<<20)
	for i := range r.pattern {
		r.pattern[i] = byte(rand.Uint32())
	}
	return r
}

// fail counts an error; only the first ten are logged.
func (r *clientRun) fail(format string, args ...any) {
	if r.errors.Add(1) <= 10 {
		r.env.Logf(format, args...)
	}
}

// lost reports that a session can no longer complete the run.
func (r *clientRun) lost() {
	select {
	case r.dead <- struct{}{}:
	default:
	}
}

// clientConn drives one connection: up to depth ECHOs in flight, replies
// checked against what was sent (tid order, type, sections). It is the
// connection's messenger's dispatcher.
type clientConn struct {
	run  *clientRun
	m    *msgr.Messenger
	conn *msgr.Connection
	rng  *rand.Rand
	rtt  *rttStripe // where this connection records its round trips

	mu       sync.Mutex
	nextTid  uint64
	inflight []*flight   // FIFO by tid
	quota    int64       // messages this connection may still send (open loop: still schedule); <0: unlimited
	backlog  []time.Time // open-loop sends due but held back by the depth (bounded)
	paced    bool        // open loop: the pacer spends the quota when a send falls due
	stopped  bool
}

// flight is one ECHO awaiting its reply.
type flight struct {
	tid  uint64
	data []byte
	at   time.Time // when it was due (open loop) or sent
}

// pick draws one message size.
func pick(z msgrjson.Size, r *rand.Rand) int {
	if z.Max == z.Min {
		return z.Min
	}
	return z.Min + r.IntN(z.Max-z.Min+1)
}

// sendLocked sends one ECHO if allowed.
func (c *clientConn) sendLocked(at time.Time) bool {
	if c.stopped || (c.quota == 0 && !c.paced) || len(c.inflight) >= c.run.depth {
		return false
	}
	c.nextTid++
	size := pick(c.run.size, c.rng)
	off := int(c.nextTid*7919) % (len(c.run.pattern) - size + 1)
	data := c.run.pattern[off : off+size : off+size]
	m := &msgr.Message{Type: MsgEcho, Tid: c.nextTid, Version: 1, CompatVersion: 1, Data: data}
	if err := c.conn.SendMessage(m); err != nil {
		c.nextTid--
		c.run.fail("msgr-client: send: %v", err)
		return false
	}
	if c.quota > 0 && !c.paced {
		c.quota--
	}
	c.inflight = append(c.inflight, &flight{tid: m.Tid, data: data, at: at})
	c.run.sent.Add(1)
	return true
}

func (c *clientConn) onReply(m *msgr.Message) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.Type != MsgEchoReply {
		return // unsolicited (a mon would send maps); not ours to check
	}
	if len(c.inflight) == 0 || c.inflight[0].tid != m.Tid {
		want := uint64(0)
		if len(c.inflight) > 0 {
			want = c.inflight[0].tid
		}
		c.run.fail("msgr-client: reply tid %d, want %d (duplicate or out of order)", m.Tid, want)
		return
	}
	f := c.inflight[0]
	c.inflight[0] = nil
	c.inflight = c.inflight[1:]
	if !bytes.Equal(m.Data, f.data) || len(m.Front) != 0 || len(m.Middle) != 0 {
		c.run.fail("msgr-client: reply tid %d: payload differs (%d bytes, sent %d)", m.Tid, len(m.Data), len(f.data))
	} else {
		c.rtt.record(now.Sub(f.at))
		c.run.received.Add(1)
	}
	select {
	case c.run.progress <- struct{}{}:
	default:
	}
	if len(c.backlog) > 0 {
		if c.sendLocked(c.backlog[0]) {
			c.backlog = c.backlog[1:]
		}
		return
	}
	if c.run.rate == 0 {
		c.sendLocked(now) // closed loop: a reply frees the slot for the next ECHO
	}
}

func (c *clientConn) Dispatch(m *msgr.Message)           { c.onReply(m) }
func (c *clientConn) CanFastDispatch(*msgr.Message) bool { return true }
func (c *clientConn) FastDispatch(m *msgr.Message)       { c.onReply(m) }
func (c *clientConn) HandleConnect(*msgr.Connection)     {}
func (c *clientConn) HandleAccept(*msgr.Connection)      {}
func (c *clientConn) HandleReset(*msgr.Connection) {
	c.run.fail("msgr-client: session reset (lossy)")
	c.run.lost()
}
func (c *clientConn) HandleRemoteReset(*msgr.Connection) {
	// RESETSESSION discarded our queued and unacked messages (§11.1): the
	// run fails (their replies never come), but the session itself goes on,
	// so the client keeps running until --timeout rather than dropping it.
	c.run.fail("msgr-client: server reset the session")
}
func (c *clientConn) HandleRefused(conn *msgr.Connection) {
	addr := conn.PeerAddr().String()
	if conn.Msgr2() {
		addr = conn.PeerAddr().TypedString()
	}
	c.run.fail("msgr-client: connect to %s failed", addr)
	c.run.lost()
}

// fill sends until the connection is at its depth (closed loop start).
func (c *clientConn) fill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.sendLocked(time.Now()) {
	}
}

func (c *clientConn) stop() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
}

// unanswered counts the ECHOs still awaiting their reply.
func unanswered(cs []*clientConn) int64 {
	var n int64
	for _, c := range cs {
		c.mu.Lock()
		n += int64(len(c.inflight))
		c.mu.Unlock()
	}
	return n
}

// finished: nothing in flight and nothing left to send.
func finished(cs []*clientConn) bool {
	for _, c := range cs {
		c.mu.Lock()
		busy := len(c.inflight) > 0 || (!c.stopped && (c.quota != 0 || len(c.backlog) > 0))
		c.mu.Unlock()
		if busy {
			return false
		}
	}
	return true
}

// openLoop sends at a fixed rate across connections, from start until end
// (zero: until every connection's quota is scheduled); a send due while the
// connection is at its depth is held as backlog and its RTT counts from
// the time it was due (coordinated omission corrected). The schedule alone
// decides what is sent: a send that fell due is sent, in turn, even after
// end (the run waits for it), so a slow or CPU-starved peer shows as long
// RTTs, never as fewer messages. A pacer that wakes late sends everything
// past due at once. Every microsecond it wakes late is charged to the
// message it sends, so it waits with core/sleep (nanosleep at 1 ns timer
// slack on its own thread), not a Go timer, which wakes about 1 ms late on
// these VMs. The connections must have paced set.
func openLoop(cs []*clientConn, rate float64, start, end time.Time, done <-chan struct{}) {
	sleep.LowTimerSlack()
	interval := time.Duration(float64(time.Second) / rate)
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if !end.IsZero() && !due.Before(end) {
			endSchedule(cs)
			return
		}
		if !sleep.UntilOrDone(due, done) {
			return
		}
		c := cs[i%len(cs)]
		c.mu.Lock()
		if c.stopped || c.quota == 0 {
			c.mu.Unlock()
			if allStopped(cs) {
				return
			}
			continue
		}
		if c.quota > 0 {
			c.quota--
		}
		if !c.sendLocked(due) && len(c.backlog) < maxBacklog {
			c.backlog = append(c.backlog, due)
		}
		c.mu.Unlock()
	}
}

// endSchedule: no more sends fall due; the backlog still goes out. It
// wakes drive, which looks at finished only on a wake-up: the last reply
// may have come in before the schedule ended (a pacer that woke late sends
// what is past due and only then ends), and without this wake-up drive
// waited for --timeout and failed a run that had finished.
func endSchedule(cs []*clientConn) {
	for _, c := range cs {
		c.mu.Lock()
		c.quota = 0
		c.mu.Unlock()
	}
	if len(cs) > 0 {
		select {
		case cs[0].run.progress <- struct{}{}:
		default:
		}
	}
}

func allStopped(cs []*clientConn) bool {
	for _, c := range cs {
		c.mu.Lock()
		s := c.stopped || c.quota == 0
		c.mu.Unlock()
		if !s {
			return false
		}
	}
	return true
}
