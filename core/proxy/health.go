package proxy

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/tlsconn"
	"github.com/netmodels/netmodels/core/proxy/proxyproto"
	"github.com/netmodels/netmodels/core/proxy/runtimeapi"
	"github.com/netmodels/netmodels/core/proxy/tcpcheck"
)

// CheckResult is the outcome of a server's last health check.
type CheckResult struct {
	// Status is HAProxy's check status (L4OK, L7RSP, ...).
	Status tcpcheck.Status
	// Desc says why (HAProxy's check info).
	Desc     string
	Duration time.Duration
}

// connectOnly is the check of a server without a check option: a
// connect (the implicit one), nothing sent.
var connectOnly = func() *tcpcheck.Ruleset {
	rs, err := tcpcheck.NewRuleset("connect", nil)
	if err != nil {
		panic(err)
	}
	return rs
}()

// checker runs a server's health checks: the backend's ruleset (a plain
// connect without a check option) every interval. A server goes down
// after "fall" consecutive failures and up again after "rise"
// consecutive successes. The interval is "inter" while the server is up
// and stable, "fastinter" while it is changing state, "downinter" while
// down (each defaulting to inter), as in HAProxy.
type checker struct {
	p   *Proxy
	srv *server
	rs  *tcpcheck.Ruleset

	mu      sync.Mutex
	stopped bool
	cancel  func() bool
	cur     *checkRun
}

func newChecker(p *Proxy, s *server) *checker {
	rs := s.be.cfg.Check
	if rs == nil {
		rs = connectOnly
	}
	return &checker{p: p, srv: s, rs: rs}
}

func (c *checker) start() { c.schedule(c.interval()) }

func (c *checker) stop() {
	c.mu.Lock()
	c.stopped = true
	if c.cancel != nil {
		c.cancel()
	}
	cur := c.cur
	c.mu.Unlock()
	if cur != nil {
		cur.abort()
	}
}

func (c *checker) interval() time.Duration {
	cfg := c.srv.cfg
	in := cfg.Inter
	changing := (c.srv.up.Load() && c.srv.fails > 0) || (!c.srv.up.Load() && c.srv.oks > 0)
	switch {
	case changing && cfg.FastInter > 0:
		in = cfg.FastInter
	case !c.srv.up.Load() && cfg.DownInter > 0:
		in = cfg.DownInter
	}
	return in
}

func (c *checker) schedule(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.cancel = c.p.clock.AfterFunc(d, c.run)
}

// run starts one check.
func (c *checker) run() {
	// In maintenance no check runs (HAProxy stops them); the timer keeps
	// ticking so that checks resume by themselves when it ends.
	if c.srv.adminState() == runtimeapi.Maint {
		c.schedule(c.interval())
		return
	}
	now := c.p.clock.Now()
	r := &checkRun{c: c, start: now, runner: c.rs.Runner(c.p.bufsize, now)}
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.cur = r
	c.mu.Unlock()
	r.locked(r.step)
}

// result applies one check outcome and schedules the next check.
func (c *checker) result(res tcpcheck.Result, took time.Duration) {
	s := c.srv
	// Leaving maintenance, HAProxy puts a checked server up with the
	// lowest health that is still up: one failure takes it down.
	if s.rearm.Swap(false) {
		s.fails, s.oks = s.cfg.Fall-1, 0
	}
	s.check.Store(&CheckResult{Status: res.Status, Desc: res.Desc, Duration: took})
	// HAProxy's state-change lines (srv_update_status).
	why := func() string {
		w := ", reason: " + res.Status.Desc()
		if res.Desc != "" {
			w += ", info: " + strconv.Quote(res.Desc)
		}
		return w + fmt.Sprintf(", check duration: %dms.", took.Milliseconds())
	}
	left := func(verb string) string {
		act, bak := s.be.upServers()
		return fmt.Sprintf(" %d active and %d backup servers %s.", act, bak, verb)
	}
	if res.OK() {
		s.fails = 0
		if !s.up.Load() {
			s.oks++
			if s.oks >= s.cfg.Rise {
				s.oks = 0
				s.up.Store(true)
				s.lastChange.Store(c.p.clock.Now().UnixNano())
				c.p.logf("Server %s/%s is UP%s%s 0 sessions requeued, %d total in queue.", s.be.cfg.Name, s.cfg.Name, why(), left("online"), s.be.st.qcur.Load())
				if s.cfg.ShutdownBackupOnUp && !s.cfg.Backup {
					s.be.shutdownSessions(func(o *server) bool { return o.cfg.Backup }, "U")
				}
				s.be.pump() // queued sessions may now go
			}
		}
	} else {
		s.st.chkfl.Add(1)
		s.oks = 0
		if s.up.Load() {
			s.fails++
			if s.fails >= s.cfg.Fall {
				s.fails = 0
				s.up.Store(false)
				s.st.chkdwn.Add(1)
				s.lastChange.Store(c.p.clock.Now().UnixNano())
				c.p.logf("Server %s/%s is DOWN%s%s %d sessions active, 0 requeued, %d remaining in queue.", s.be.cfg.Name, s.cfg.Name, why(), left("left"), s.st.scur.Load(), s.be.st.qcur.Load())
				if s.cfg.ShutdownOnDown {
					s.be.shutdownSessions(func(o *server) bool { return o == s }, "D")
				}
			}
		}
	}
	// For the runtime API's transitional states ("UP 2/3", "DOWN 1/2").
	s.chkFails.Store(int32(s.fails))
	s.chkOks.Store(int32(s.oks))
	c.mu.Lock()
	c.cur = nil
	c.mu.Unlock()
	c.schedule(c.interval())
}

// checkRun is one check in progress: a tcpcheck.Runner driven by the
// events of its connections. A ruleset with several connect rules uses
// several connections, each possibly on another loop, one after the
// other; mu orders their callbacks.
type checkRun struct {
	c      *checker
	start  time.Time
	runner *tcpcheck.Runner

	mu       sync.Mutex
	leg      *checkLeg // the current connection; callbacks of others are ignored
	deadline time.Time // the end of the current phase (connect, exchange)
	done     bool
	res      *tcpcheck.Result // set when done, applied once outside mu
}

// checkLeg is one connection of a check.
type checkLeg struct {
	// tls: the connection runs TLS (checkTLS); handshaking: its
	// handshake started; headerSent: checkTLS wrote the PROXY header.
	tls, handshaking, headerSent bool
	r                            *checkRun
	conn                         engine.Conn
	rule                         *tcpcheck.Connect
	opened                       bool
	timer                        engine.Timer
	timeout                      bool // its timer fired (reported through OnClose if dialing)
}

// locked runs fn under mu, then applies the result fn produced, if any.
func (r *checkRun) locked(fn func()) {
	r.mu.Lock()
	fn()
	res := r.res
	r.res = nil
	r.mu.Unlock()
	if res != nil {
		r.c.result(*res, r.c.p.clock.Now().Sub(r.start))
	}
}

// step does what the runner asks until it has to wait.
func (r *checkRun) step() {
	for !r.done {
		op := r.runner.Next()
		switch op.Kind {
		case tcpcheck.OpConnect:
			r.dial(op.Connect) // then OnOpen, OnClose or a failure now
			return
		case tcpcheck.OpSend:
			if err := r.leg.conn.Write(op.Data); err != nil {
				r.finish(tcpcheck.Result{Status: tcpcheck.SOCKERR, Desc: "send: " + err.Error()})
				return
			}
		case tcpcheck.OpWait:
			return
		case tcpcheck.OpDone:
			r.finish(op.Result)
			return
		}
	}
}

// timeouts: with "timeout check", a connect is bounded by min(timeout
// connect, inter) and the exchange after it by timeout check; without,
// the whole check is bounded by inter (HAProxy's rules).
func (r *checkRun) connectDeadline(now time.Time) time.Time {
	inter := r.c.srv.cfg.Inter
	t := r.c.srv.be.cfg.Timeouts
	if t.Check == 0 {
		return r.start.Add(inter)
	}
	d := inter
	if t.Connect > 0 && t.Connect < d {
		d = t.Connect
	}
	return now.Add(d)
}

func (r *checkRun) exchangeDeadline(now time.Time) time.Time {
	t := r.c.srv.be.cfg.Timeouts
	if t.Check == 0 {
		return r.start.Add(r.c.srv.cfg.Inter)
	}
	return now.Add(t.Check)
}

// dial closes the current connection and opens the one rule asks for.
func (r *checkRun) dial(rule *tcpcheck.Connect) {
	r.closeLeg()
	target := r.target(rule)
	if target == "" {
		r.finish(r.runner.ConnectFailed(errors.New("no port to check (set 'port')")))
		return
	}
	now := r.c.p.clock.Now()
	r.deadline = r.connectDeadline(now)
	wait := max(r.deadline.Sub(now), time.Millisecond)
	leg := &checkLeg{r: r, rule: rule}
	r.leg = leg
	var h engine.Handler = leg
	if cfg := r.tlsConfig(rule); cfg != nil {
		// check-ssl or "tcp-check connect ssl": TLS after the optional
		// PROXY header; the rules see plaintext (checkTLS, tls.go).
		leg.tls = true
		h = &checkTLS{leg: leg, cfg: cfg, opts: tlsconn.Options{HandshakeTimeout: wait, Limiter: r.c.p.tlsLimiter}}
	}
	conn, err := r.c.p.eng.Dial(target, h, engine.DialOptions{Timeout: wait})
	if errors.Is(err, engine.ErrEngineClosed) {
		r.done = true // the engine is gone: no result, no more checks
		return
	}
	if err != nil {
		r.finish(r.runner.ConnectFailed(connError(err)))
		return
	}
	leg.conn = conn
	leg.timer = conn.AfterFunc(wait, func() { r.locked(func() { r.expired(leg) }) })
}

// target is where a connect rule goes: its own address and port, else
// the server's check address and port, else the server's address.
func (r *checkRun) target(rule *tcpcheck.Connect) string {
	s := r.c.srv.cfg
	host, port := s.Host, s.Port
	if s.CheckAddr != "" {
		host = s.CheckAddr
	}
	if s.CheckPort != 0 {
		port = s.CheckPort
	}
	if rule.Addr != "" {
		if h, p, err := net.SplitHostPort(rule.Addr); err == nil {
			host = h
			if n, _ := strconv.Atoi(p); rule.Port == 0 {
				port = n
			}
		} else {
			host = rule.Addr
		}
	}
	if rule.Port != 0 {
		port = rule.Port
	}
	if port == 0 {
		return ""
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// closeLeg ends the current connection. Bytes still queued (a PROXY
// header on a connect-only check) go out first: the connection is shut
// for writing and closed when the server closes or after checkLinger.
func (r *checkRun) closeLeg() {
	l := r.leg
	if l == nil {
		return
	}
	r.leg = nil
	if l.timer != nil {
		l.timer.Stop()
	}
	c := l.conn
	if c == nil {
		return
	}
	if l.opened && c.OutQueued() > 0 && c.CloseWrite() == nil {
		c.AfterFunc(checkLinger, func() { _ = c.Close() })
		return
	}
	_ = c.Close()
}

// checkLinger bounds how long a finished check's connection waits for
// its last bytes to go out.
const checkLinger = time.Second

func (r *checkRun) finish(res tcpcheck.Result) {
	if r.done {
		return
	}
	r.done = true
	r.closeLeg()
	r.res = &res
}

// expired: leg's phase ran out of time.
func (r *checkRun) expired(l *checkLeg) {
	if r.done || l != r.leg {
		return
	}
	l.timer = nil
	r.finish(r.runner.Timeout())
}

// abort ends a check without a result (soft-stop).
func (r *checkRun) abort() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = true
	r.closeLeg()
}

// sendProxy is the PROXY protocol version the connection of rule starts
// with: "tcp-check connect send-proxy" (the server's version, v1 unless
// send-proxy-v2), or the server's check-send-proxy/send-proxy rule on a
// default connect.
func (r *checkRun) sendProxy(rule *tcpcheck.Connect) int {
	s := r.c.srv.cfg
	switch {
	case rule.SendProxy && s.SendProxy == 2:
		return 2
	case rule.SendProxy:
		return 1
	case rule.Default:
		return s.ChecksSendProxy()
	}
	return 0
}

// proxyHeader is what HAProxy sends on a check connection: v1 with the
// check connection's own addresses, v2 LOCAL (unless pp2-never-send-local,
// not supported here).
func checkProxyHeader(version int, c engine.Conn) []byte {
	h := proxyproto.Header{Version: version, Command: proxyproto.CmdLocal}
	if version == 1 {
		src, dst := addrPort(c.LocalAddr()), addrPort(c.RemoteAddr())
		if src.IsValid() && dst.IsValid() && src.Addr().Is4() == dst.Addr().Is4() {
			h.Command, h.Source, h.Destination = proxyproto.CmdProxy, src, dst
			h.Transport = proxyproto.TCP4
			if !src.Addr().Is4() {
				h.Transport = proxyproto.TCP6
			}
		}
		if b, err := h.AppendV1(nil); err == nil {
			return b
		}
		h = proxyproto.Header{Version: 1, Command: proxyproto.CmdLocal}
		b, _ := h.AppendV1(nil)
		return b
	}
	b, _ := h.AppendV2(nil)
	return b
}

func (l *checkLeg) current() bool { return l.r.leg == l && !l.r.done }

func (l *checkLeg) OnOpen(c engine.Conn) {
	r := l.r
	r.locked(func() {
		if !l.current() {
			_ = c.Close()
			return
		}
		l.opened = true
		l.conn = c // on a TLS check, the TLS layer's Conn
		if v := r.sendProxy(l.rule); v != 0 && !l.headerSent {
			if err := c.Write(checkProxyHeader(v, c)); err != nil {
				r.finish(tcpcheck.Result{Status: tcpcheck.SOCKERR, Desc: "send-proxy: " + err.Error()})
				return
			}
		}
		now := r.c.p.clock.Now()
		if d := r.exchangeDeadline(now); !d.Equal(r.deadline) {
			r.deadline = d
			if l.timer != nil {
				l.timer.Stop()
			}
			l.timer = c.AfterFunc(max(d.Sub(now), 0), func() { r.locked(func() { r.expired(l) }) })
		}
		if l.tls {
			r.runner.ConnectedTLS()
		} else {
			r.runner.Connected()
		}
		r.step()
	})
}

func (l *checkLeg) OnData(_ engine.Conn, in []byte) int {
	l.r.locked(func() {
		if l.current() {
			// The runner keeps at most tune.bufsize bytes; the rest of a
			// reply is read and dropped.
			l.r.runner.Feed(in)
			l.r.step()
		}
	})
	return len(in)
}

func (l *checkLeg) OnReadEOF(c engine.Conn) {
	l.r.locked(func() {
		if !l.current() {
			_ = c.Close() // a finished check's lingering connection
			return
		}
		l.r.runner.EOF(nil)
		l.r.step()
	})
}

func (l *checkLeg) OnDrained(engine.Conn) {}

func (l *checkLeg) OnClose(_ engine.Conn, err error) {
	r := l.r
	r.locked(func() {
		if !l.current() {
			return
		}
		if l.timer != nil {
			l.timer.Stop()
			l.timer = nil
		}
		if errors.Is(err, engine.ErrEngineClosed) {
			r.done = true
			return
		}
		if !l.opened {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, tlsconn.ErrHandshakeTimeout) {
				r.finish(r.runner.Timeout())
				return
			}
			if l.handshaking {
				r.finish(r.runner.HandshakeFailed(err))
				return
			}
			if err == nil {
				err = errors.New("connection closed before established")
			}
			r.finish(r.runner.ConnectFailed(connError(err)))
			return
		}
		r.runner.EOF(err)
		r.step()
		if !r.done {
			// The runner wants to go on (send) on a connection that is
			// gone.
			r.finish(tcpcheck.Result{Status: tcpcheck.L4CON, Desc: "connection closed"})
		}
	})
}

// connError is the text HAProxy gives a failed check connect (strerror):
// "Connection refused" rather than Go's "dial tcp ...: connect: ...".
func connError(err error) error {
	for _, e := range []struct {
		errno syscall.Errno
		text  string
	}{
		{syscall.ECONNREFUSED, "Connection refused"},
		{syscall.ECONNRESET, "Connection reset by peer"},
		{syscall.EHOSTUNREACH, "No route to host"},
		{syscall.ENETUNREACH, "Network is unreachable"},
	} {
		if errors.Is(err, e.errno) {
			return errors.New(e.text)
		}
	}
	return err
}
