package proxy

import (
	"crypto/tls"
	"fmt"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/proxy/config"
)

// frontend accepts clients on its binds and starts sessions.
type frontend struct {
	p         *Proxy
	cfg       *config.Frontend
	st        counters
	listeners []engine.Listener
	maxconn   int // 0: none
	// tlsCfg is each bind's TLS configuration (nil: plain), by bind index.
	tlsCfg []*tls.Config

	// Guarded by p.admMu (and listeners too, once listen has returned).
	cur int
	// paused: the listeners are paused (pauseFull), so new clients wait
	// in the kernel's accept backlog, as HAProxy leaves them when a
	// frontend is full (listener_full, limit_listener).
	paused bool
	// waiters are clients accepted while the pause was on its way (the
	// engine had accepted them before Pause took effect, or before the
	// session that filled the frontend was counted) and waiting for a
	// frontend or global maxconn slot, paused, oldest first. They come
	// before the backlog: the listeners stay paused while any waits.
	// Bounded like a backlog (the frontend's maxconn, HAProxy's default
	// backlog); beyond it a client is closed at once.
	waiters   []*session
	waiterCap int
	// budget is the frontend's maxconn as the engine counts it, at accept
	// (nil without a frontend maxconn): every listener takes a unit per
	// connection it hands over and stops accepting when none is left, and
	// every session of the frontend gives its unit back when it ends. A
	// pause alone would let the engine accept many clients between the
	// one that fills the frontend and that session's admission.
	budget *engine.AcceptBudget
}

func newFrontend(p *Proxy, cfg *config.Frontend) *frontend {
	fe := &frontend{p: p, cfg: cfg, maxconn: cfg.MaxConn}
	fe.tlsCfg = make([]*tls.Config, len(cfg.Binds))
	for i := range cfg.Binds {
		if b := &cfg.Binds[i].SSL; b.Enabled {
			fe.tlsCfg[i] = bindTLSConfig(b)
		}
	}
	if fe.maxconn > 0 {
		fe.budget = engine.NewAcceptBudget(fe.maxconn)
	}
	fe.waiterCap = fe.maxconn
	if fe.waiterCap == 0 || fe.waiterCap > p.maxconn {
		fe.waiterCap = p.maxconn
	}
	return fe
}

func (fe *frontend) listen() error {
	for i, b := range fe.cfg.Binds {
		l, err := fe.p.eng.Listen(b.Addr, func(c engine.Conn) engine.Handler {
			fe.p.cumConns.Add(1)
			s := newSession(fe, c, i)
			if fe.p.onSession != nil {
				fe.p.onSession(s)
			}
			return s
		})
		if err != nil {
			return fmt.Errorf("%s:%d: frontend %q: cannot bind %s: %w", b.Where.File, b.Where.Line, fe.cfg.Name, b.Addr, err)
		}
		if fe.budget != nil {
			l.SetBudget(fe.budget)
		}
		fe.p.admMu.Lock()
		fe.listeners = append(fe.listeners, l)
		if fe.paused {
			l.Pause() // a client of an earlier bind filled it meanwhile
		}
		fe.p.admMu.Unlock()
	}
	return nil
}

// admit takes a frontend and a global slot for s, or puts s on the wait
// list (waiting=true), or refuses it (both false: the wait list is full).
func (fe *frontend) admit(s *session) (ok, waiting bool) {
	p := fe.p
	p.admMu.Lock()
	defer p.admMu.Unlock()
	defer p.pauseFull()
	if (fe.maxconn == 0 || fe.cur < fe.maxconn) && p.cur < p.maxconn && len(fe.waiters) == 0 {
		fe.cur++
		p.cur++
		return true, false
	}
	if len(fe.waiters) >= fe.waiterCap {
		return false, false
	}
	fe.waiters = append(fe.waiters, s)
	return false, true
}

// pauseFull pauses the listeners of every frontend that cannot take a
// client now (its maxconn or the global one reached, or clients already
// waiting) and resumes the others' (HAProxy's listener_full,
// limit_listener and resume_listener). It runs with p.admMu held after
// every change of the counts; listeners are told only on a change.
func (p *Proxy) pauseFull() {
	global := p.cur >= p.maxconn
	for _, fe := range p.frontends {
		full := global || (fe.maxconn > 0 && fe.cur >= fe.maxconn) || len(fe.waiters) > 0
		if full == fe.paused {
			continue
		}
		fe.paused = full
		for _, l := range fe.listeners {
			if full {
				l.Pause()
			} else {
				l.Resume()
			}
		}
	}
}

// unwait removes s from the wait list; false if it was already admitted.
func (fe *frontend) unwait(s *session) bool {
	p := fe.p
	p.admMu.Lock()
	defer p.admMu.Unlock()
	for i, w := range fe.waiters {
		if w == s {
			fe.waiters = append(fe.waiters[:i], fe.waiters[i+1:]...)
			p.pauseFull()
			return true
		}
	}
	return false
}

// leave gives back s's slots and admits waiting clients that now fit,
// this frontend's first.
func (fe *frontend) leave() {
	p := fe.p
	p.admMu.Lock()
	fe.cur--
	p.cur--
	p.admMu.Unlock()
	p.admitWaiters(fe)
}

func (p *Proxy) admitWaiters(first *frontend) {
	for {
		var s *session
		p.admMu.Lock()
		if p.cur < p.maxconn {
			try := func(fe *frontend) bool {
				if len(fe.waiters) > 0 && (fe.maxconn == 0 || fe.cur < fe.maxconn) {
					s = fe.waiters[0]
					fe.waiters = fe.waiters[1:]
					fe.cur++
					p.cur++
					return true
				}
				return false
			}
			if !try(first) {
				for _, fe := range p.frontends {
					if fe != first && try(fe) {
						break
					}
				}
			}
		}
		if s == nil {
			p.pauseFull() // no one waits that fits: the backlog's turn
			p.admMu.Unlock()
			return
		}
		p.admMu.Unlock()
		if err := s.cli.Execute(s.onAdmitted); err != nil {
			// The session holds the slot now (it left the wait list), and
			// its end gives it back: giving it back here too would count
			// it twice. Closing makes that end come now.
			_ = s.cli.Close()
		}
	}
}

// route picks the backend for a client: the first use_backend rule whose
// condition holds, else default_backend (nil: none).
func (fe *frontend) route(s *session) *backend {
	for _, u := range fe.cfg.UseBackends {
		if !s.holds(u.Cond, config.PhaseContent) {
			continue
		}
		if u.Dynamic == nil {
			return fe.p.bemap[u.Backend]
		}
		// A dynamic name that is no backend ends the rules (HAProxy).
		var buf [64]byte
		if b := fe.p.cfg.Backend(string(u.Dynamic.Build(s.evalEnv(config.PhaseContent, true), buf[:0]))); b != nil {
			return fe.p.bemap[b]
		}
		break
	}
	if fe.cfg.DefaultBackend != nil {
		return fe.p.bemap[fe.cfg.DefaultBackend]
	}
	return nil
}
