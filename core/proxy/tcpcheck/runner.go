package tcpcheck

import (
	"fmt"
	"time"
)

// OpKind is what a Runner asks its driver to do.
type OpKind uint8

// Operations.
const (
	// OpConnect: close the current connection, if any, and open the one
	// Op.Connect describes; call Connected once it is up (or
	// ConnectFailed).
	OpConnect OpKind = iota + 1
	// OpSend: write Op.Data on the connection, then call Next again.
	OpSend
	// OpWait: wait for bytes (Feed) or the end of the reply (EOF), then
	// call Next again. The caller's timeout (Timeout) bounds the wait.
	OpWait
	// OpDone: the check is over; Op.Result says how. Close the connection.
	OpDone
)

// Result is how a check ended.
type Result struct {
	Status Status
	// Step is the rule the check ended on (1-based, HAProxy's step).
	Step int
	// Desc says why (HAProxy's check info text).
	Desc string
}

// OK reports whether the check passed.
func (r Result) OK() bool { return r.Status.Pass() }

// Op is one instruction to a Runner's driver.
type Op struct {
	Kind    OpKind
	Connect *Connect
	Data    []byte
	Result  Result
}

// Runner runs one check of a Ruleset. It does no I/O: its driver feeds it
// the connection's events and does what Next returns. Not safe for
// concurrent use.
type Runner struct {
	rules []Rule
	max   int
	now   time.Time

	i          int // the rule being run
	buf        []byte
	hexDump    []byte // the upper-case hex of buf[:len(hexDump)/2], for rbinary
	eof        bool   // the reply ended (EOF or error after the connect)
	err        error  // the connection error that ended it, if any
	fresh      bool   // bytes or the end arrived since the last evaluation
	needRead   bool   // the current expect needs fresh bytes first
	connecting bool   // an OpConnect is out, Connected not yet called
	handshake  bool   // the connection is up, its TLS handshake runs
	tls        bool   // the current connection is TLS
	connected  bool
	done       bool
	res        Result
	last       int // the last rule run, for the success status
}

// Runner starts a check. max bounds the reply kept (tune.bufsize); now
// is the check's start (ssl-hello-chk sends it).
func (rs *Ruleset) Runner(max int, now time.Time) *Runner {
	return &Runner{rules: rs.Rules, max: max, now: now}
}

// Next returns what to do now.
func (r *Runner) Next() Op {
	if r.done {
		return Op{Kind: OpDone, Result: r.res}
	}
	if r.connecting {
		return Op{Kind: OpWait}
	}
	for r.i < len(r.rules) {
		rule := &r.rules[r.i]
		switch rule.Action {
		case ActComment:
			r.i++
		case ActConnect:
			r.connecting = true
			return Op{Kind: OpConnect, Connect: &rule.Connect}
		case ActSend:
			data := rule.Send
			if rule.sendFn != nil {
				data = rule.sendFn(r.now)
			}
			if len(data) >= r.max {
				return r.finish(L7RSP, fmt.Sprintf("tcp-check send : string too large (%d) for buffer size (%d)", len(data), r.max))
			}
			// HAProxy releases the input buffer on every send: an expect
			// sees only the reply to what was sent last.
			r.buf, r.hexDump, r.fresh, r.needRead = r.buf[:0], r.hexDump[:0], false, true
			r.last = r.i
			r.i++
			return Op{Kind: OpSend, Data: data}
		case ActExpect:
			if op, wait := r.expect(rule.Expect); wait || op.Kind == OpDone {
				return op
			}
		}
	}
	return r.success()
}

// expect evaluates the current expect rule; wait: return op.
func (r *Runner) expect(e *Expect) (op Op, wait bool) {
	if r.needRead {
		if !r.fresh && !r.eof {
			return Op{Kind: OpWait}, true
		}
		r.needRead = false
		if len(r.buf) == 0 && r.eof {
			if r.err != nil {
				return r.finish(L4CON, r.err.Error()), false
			}
			st := e.ErrStatus
			if st == StatusUnknown {
				st = L7RSP
			}
			return r.finish(st, "TCPCHK got an empty response"), false
		}
	}
	r.fresh = false
	lastRead := r.eof || len(r.buf) >= r.max
	var hd []byte
	if e.Kind == RBinary {
		// Extend the dump by the bytes that arrived since the last
		// evaluation (the reply only grows between resets).
		r.hexDump = appendHexUpper(r.hexDump, r.buf[len(r.hexDump)/2:])
		hd = r.hexDump
	}
	v, st, desc := e.eval(r.buf, hd, lastRead)
	r.last = r.i
	switch v {
	case Continue:
		r.i++
		return Op{}, false
	case Wait:
		r.i, r.needRead = e.head, true
		return Op{Kind: OpWait}, true
	}
	if e.Comment != "" {
		desc += " comment: '" + e.Comment + "'"
	}
	return r.finish(st, desc), false
}

func (r *Runner) success() Op {
	rule := r.rules[r.last]
	switch rule.Action {
	case ActExpect:
		e := rule.Expect
		if e.Kind == Custom {
			// A protocol matcher that let the last rule pass set its own
			// status and text.
			_, st, d := e.custom(r.buf, true)
			return r.finish(st, d)
		}
		st := e.OKStatus
		if st == StatusUnknown {
			st = L7OK
		}
		d := e.OnSuccess
		if d == "" {
			d = "(tcp-check)"
		}
		return r.finish(st, d)
	case ActConnect:
		d := "(tcp-check)"
		if rule.Connect.Implicit {
			d = ""
		}
		if r.tls {
			return r.finish(L6OK, d)
		}
		return r.finish(L4OK, d)
	}
	return r.finish(L7OK, "(tcp-check)")
}

func (r *Runner) finish(st Status, desc string) Op {
	r.done = true
	r.res = Result{Status: st, Step: step(r.i), Desc: desc}
	if !st.Pass() && desc != "" {
		r.res.Desc = fmt.Sprintf("%s at step %d", desc, step(r.i))
	}
	return Op{Kind: OpDone, Result: r.res}
}

// HandshakeStarted reports that the connection asked for by the last
// OpConnect is up and its TLS handshake started: a timeout now is L6TOUT.
func (r *Runner) HandshakeStarted() { r.handshake = true }

// HandshakeFailed ends the check: the TLS handshake failed (L6RSP).
func (r *Runner) HandshakeFailed(err error) Result {
	if r.done {
		return r.res
	}
	d := "SSL handshake failure"
	if err != nil {
		d += ": " + err.Error()
	}
	r.connecting, r.handshake = false, false
	r.finish(L6RSP, d)
	return r.res
}

// ConnectedTLS is Connected for a connection whose TLS handshake
// succeeded: a check ending on this connect passes with L6OK.
func (r *Runner) ConnectedTLS() {
	r.Connected()
	r.tls = true
}

// Connected reports that the connection asked for by the last OpConnect
// is up. The reply buffer starts empty.
func (r *Runner) Connected() {
	if !r.connecting {
		return
	}
	r.connecting, r.handshake, r.tls, r.connected = false, false, false, true
	r.buf, r.hexDump, r.eof, r.err, r.fresh, r.needRead = r.buf[:0], r.hexDump[:0], false, nil, false, true
	r.last = r.i
	r.i++
}

// ConnectFailed ends the check: the connection could not be opened.
func (r *Runner) ConnectFailed(err error) Result {
	if r.done {
		return r.res
	}
	d := "Connection refused"
	if err != nil {
		d = err.Error()
	}
	r.connecting = false
	r.finish(L4CON, d)
	return r.res
}

// Feed adds received bytes. The reply kept is bounded by max; bytes
// beyond are dropped, and a full buffer counts as the last read.
func (r *Runner) Feed(b []byte) {
	if r.done || !r.connected {
		return
	}
	if room := r.max - len(r.buf); room > 0 {
		r.buf = append(r.buf, b[:min(room, len(b))]...)
	}
	r.fresh = true
}

// EOF reports the end of the reply: the server shut its side (err nil)
// or the connection failed (err). Rules already passed stand; an expect
// still waiting decides on the bytes it has.
func (r *Runner) EOF(err error) {
	if r.done || r.eof {
		return
	}
	r.eof, r.err, r.fresh = true, err, true
}

// Timeout ends the check: its time ran out. The status is L4TOUT while
// connecting, else the waiting expect's tout-status or L7TOUT.
func (r *Runner) Timeout() Result {
	if r.done {
		return r.res
	}
	st := L7TOUT
	if r.handshake {
		st = L6TOUT
	} else if r.connecting || !r.connected {
		st = L4TOUT
	} else if r.i < len(r.rules) && r.rules[r.i].Action == ActExpect && r.rules[r.i].Expect.ToutStatus != StatusUnknown {
		st = r.rules[r.i].Expect.ToutStatus
	}
	r.connecting = false
	r.finish(st, "")
	// HAProxy's text: " at step 5 of tcp-check (expect string 'x')".
	what := ""
	if r.i < len(r.rules) {
		switch rule := r.rules[r.i]; rule.Action {
		case ActConnect:
			what = "connect"
			if rule.Connect.Port != 0 {
				what = fmt.Sprintf("connect port %d", rule.Connect.Port)
			}
		case ActExpect:
			what = "expect " + rule.Expect.Kind.String() + " '" + rule.Expect.Pattern + "'"
		case ActSend:
			what = "send"
		}
	}
	r.res.Desc = fmt.Sprintf("at step %d of tcp-check (%s)", r.res.Step, what)
	return r.res
}

// Done reports whether the check is over.
func (r *Runner) Done() bool { return r.done }
