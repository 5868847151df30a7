package proxy

import (
	"errors"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/tlsconn"
)

// checker runs a server's TCP health check: a connect, nothing sent. A
// server goes down after "fall" consecutive failures and up again after
// "rise" consecutive successes. The interval is "inter" while the server
// is up and stable, "fastinter" while it is changing state, "downinter"
// while down (each defaulting to inter), as in HAProxy.
type checker struct {
	p   *Proxy
	srv *server

	mu      sync.Mutex
	stopped bool
	cancel  func() bool
	conn    engine.Conn
}

func newChecker(p *Proxy, s *server) *checker { return &checker{p: p, srv: s} }

func (c *checker) start() { c.schedule(c.interval()) }

func (c *checker) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.cancel != nil {
		c.cancel()
	}
	if c.conn != nil {
		_ = c.conn.Close()
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

// run starts one check. Its connect timeout is "timeout check" if set,
// else min(timeout connect, inter), else inter.
func (c *checker) run() {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	t := c.srv.be.cfg.Timeouts
	timeout := c.srv.cfg.Inter
	if t.Check > 0 {
		timeout = t.Check
	} else if t.Connect > 0 && t.Connect < timeout {
		timeout = t.Connect
	}
	h := &checkHandler{c: c}
	var eh engine.Handler = h
	if cfg := c.srv.checkTLS; cfg != nil {
		// check-ssl: the check succeeds once the TLS handshake has.
		eh = tlsconn.Client(h, cfg, tlsconn.Options{HandshakeTimeout: timeout, Limiter: c.p.tlsLimiter})
	}
	conn, err := c.p.eng.Dial(c.srv.cfg.CheckTarget(), eh, engine.DialOptions{Timeout: timeout})
	if errors.Is(err, engine.ErrEngineClosed) {
		return // the engine is gone: no more checks
	}
	if err != nil {
		c.result(false)
		return
	}
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
}

// result applies one check outcome and schedules the next check.
func (c *checker) result(ok bool) {
	s := c.srv
	if ok {
		s.fails = 0
		if !s.up.Load() {
			s.oks++
			if s.oks >= s.cfg.Rise {
				s.oks = 0
				s.up.Store(true)
				c.p.logf("Server %s/%s is UP", s.be.cfg.Name, s.cfg.Name)
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
				c.p.logf("Server %s/%s is DOWN", s.be.cfg.Name, s.cfg.Name)
			}
		}
	}
	c.mu.Lock()
	c.conn = nil
	c.mu.Unlock()
	c.schedule(c.interval())
}

// checkHandler sees one check connection: open means success.
type checkHandler struct {
	engine.BaseHandler
	c      *checker
	opened bool
}

func (h *checkHandler) OnOpen(conn engine.Conn) {
	h.opened = true
	_ = conn.Close()
}

func (h *checkHandler) OnData(_ engine.Conn, in []byte) int { return len(in) }

func (h *checkHandler) OnClose(_ engine.Conn, err error) {
	h.c.result(h.opened)
}
