// Package proxy is an L4 TCP proxy with HAProxy's "mode tcp" behaviour,
// written once over the engine contract (core/engine), so it runs on every
// engine. Its configuration is a haproxy.cfg (package proxy/config).
//
// The model is HAProxy's: a session joins a client connection and a server
// connection with two channels, the request channel (client → server) and
// the response channel (server → client):
//
//	client conn ──► request channel ──► server conn
//	client conn ◄── response channel ◄── server conn
//
// Each channel is bounded: when the bytes queued towards its destination
// pass the high-water mark (tune.bufsize/2) the source stops being read
// (PauseRead) until the destination drains (OnDrained). A read EOF on one
// side (shutr) becomes a CloseWrite on the other side (shutw) behind every
// byte already queued, and the two directions end independently. See
// spec/proxy.md for the full behaviour and the timeouts.
//
// Both legs of a session live on one loop (the server leg is dialed with
// DialOptions.Near), so session state needs no lock; what sessions share
// (server slots, queues, counters, health) uses a mutex or atomics.
//
// # Choosing an engine
//
// The proxy opens no socket itself: Options.Engine runs every connection.
// Build the engine with EngineConfig(cfg), so its reads and out-queue
// marks follow tune.bufsize, and set Workers if the engine has threads:
//
//	cfg, err := config.ParseFiles([]string{"haproxy.cfg"}, config.Options{})
//	ecfg := proxy.EngineConfig(cfg)
//	ecfg.Workers = 4
//	eng, err := goroutine.New(ecfg) // github.com/netmodels/netmodels/impl-goroutine
//	p, err := proxy.New(cfg, proxy.Options{Engine: eng})
//	err = p.Start()
//
// Every engine module (impl-goroutine, impl-rawepoll, impl-gnet,
// impl-netpoll, impl-dpdk with build tag dpdk) has the same New; engines
// that implement engine.Splicer relay with splice(2). README.md compares
// them. core/engine/memengine runs the proxy in memory for tests and the
// package Example.
package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/clock"
	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/tlsconn"
	"github.com/netmodels/netmodels/core/proxy/config"
	"github.com/netmodels/netmodels/core/proxy/runtimeapi"
	"github.com/netmodels/netmodels/core/proxy/sticktable"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxConn caps concurrent sessions when the configuration has no
// global maxconn (HAProxy derives its default from ulimit -n). It also
// bounds every wait list and queue.
const DefaultMaxConn = 100000

// Clock is the proxy's time source: activity stamps and health-check
// scheduling. Session timers use the connection's AfterFunc, so an engine
// with a fake clock needs a Clock reading the same time
// (memengine.FakeClock satisfies this interface).
type Clock = clock.Clock

// Options are the proxy's run-time dependencies.
type Options struct {
	// Engine runs the connections. Build it with EngineConfig(cfg) so its
	// buffers match tune.bufsize.
	Engine engine.Engine
	// Clock defaults to the wall clock.
	Clock Clock
	// Registerer receives the metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Log receives log lines (HAProxy's "log"/"option tcplog", and
	// rejected PROXY headers); nil discards them.
	Log io.Writer
	// TLSLimiter bounds the TLS handshakes in flight (each runs on a
	// goroutine, core/engine/tlsconn); nil: tlsconn's process-wide one.
	TLSLimiter *tlsconn.Limiter
}

// EngineConfig is the engine configuration the proxy needs for cfg: reads
// of tune.bufsize bytes, and out-queue marks that make a channel hold at
// most 1.5 × tune.bufsize (high-water bufsize/2 plus one read).
func EngineConfig(cfg *config.Config) engine.Config {
	b := cfg.Global.BufSize
	if b < config.MinBufSize {
		b = config.MinBufSize
	}
	return engine.Config{
		ReadBufferSize:    b,
		OutQueueHighWater: b / 2,
		OutQueueLowWater:  b / 4,
		// High-water plus one read plus a PROXY header fits well inside.
		OutQueueLimit: 4 * b,
	}
}

// Proxy is a running configuration.
type Proxy struct {
	cfg       *config.Config
	eng       engine.Engine
	clock     Clock
	logw      io.Writer
	logMu     sync.Mutex
	bufsize   int
	frontends []*frontend
	backends  []*backend
	bemap     map[*config.Backend]*backend
	tables    map[string]*sticktable.Table // stick tables by name (stick.go)
	tableList []*sticktable.Table          // sorted by name

	// Admission: frontend and global maxconn.
	admMu   sync.Mutex
	cur     int
	maxconn int

	live     atomic.Int64 // sessions not yet finished, all phases
	stopping atomic.Bool
	stopOnce sync.Once
	doneOnce sync.Once
	done     chan struct{}
	checks   []*checker
	started  time.Time
	cumConns atomic.Int64       // connections accepted, ever (show info CumConns)
	api      *runtimeapi.Server // the stats sockets; nil: none

	tlsLimiter *tlsconn.Limiter

	onSession func(*session) // test hook, called on the session's loop
}

// New prepares a proxy; Start binds it.
func New(cfg *config.Config, opts Options) (*Proxy, error) {
	if opts.Engine == nil {
		return nil, errors.New("proxy: no engine")
	}
	p := &Proxy{
		cfg: cfg, eng: opts.Engine, clock: opts.Clock, logw: opts.Log, tlsLimiter: opts.TLSLimiter,
		bufsize: max(cfg.Global.BufSize, config.MinBufSize),
		bemap:   map[*config.Backend]*backend{},
		maxconn: cfg.Global.MaxConn,
		done:    make(chan struct{}),
	}
	if p.clock == nil {
		p.clock = clock.Real
	}
	if p.maxconn == 0 {
		p.maxconn = DefaultMaxConn
	}
	if err := p.newTables(cfg); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	for _, bc := range cfg.Backends {
		be := newBackend(p, bc, p.maxconn)
		p.backends = append(p.backends, be)
		p.bemap[bc] = be
	}
	for _, fc := range cfg.Frontends {
		p.frontends = append(p.frontends, newFrontend(p, fc))
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(collector{p}); err != nil {
			return nil, fmt.Errorf("proxy: register metrics: %w", err)
		}
	}
	return p, nil
}

// Start binds every frontend and starts the health checks. On error
// nothing stays bound.
func (p *Proxy) Start() error {
	p.started = p.clock.Now()
	for _, fe := range p.frontends {
		if err := fe.listen(); err != nil {
			p.closeListeners()
			return err
		}
	}
	if st := p.cfg.Global.Stats; len(st.Sockets) > 0 {
		api, err := runtimeapi.Listen(st, apiView{p})
		if err != nil {
			p.closeListeners()
			return err
		}
		p.api = api
		api.Serve()
	}
	for _, be := range p.backends {
		for _, s := range be.servers {
			// A server without a port is checkable through "port" or a
			// first "tcp-check connect port N".
			checkable := s.cfg.CheckTarget() != ""
			if c := be.cfg.Check.FirstConnect(); c != nil && c.Port != 0 {
				checkable = true
			}
			if s.cfg.Check && !checkable {
				p.logf("Server %s/%s: no port to check (set 'port'), health check disabled", be.cfg.Name, s.cfg.Name)
			}
			// A disabled server gets its checker too: it checks nothing
			// while in maintenance and resumes when "enable server" ends it.
			if s.cfg.Check && checkable {
				s.checking.Store(true)
				// HAProxy starts a checked server up with the lowest
				// health that is still up ("UP 1/3"): the first failed
				// check takes it down; one success restores it.
				s.chkFails.Store(int32(s.cfg.Fall - 1))
				s.rearm.Store(true)
				c := newChecker(p, s)
				p.checks = append(p.checks, c)
				c.start()
			}
		}
	}
	return nil
}

// Addrs are the bound addresses, in configuration order.
func (p *Proxy) Addrs() []net.Addr {
	var out []net.Addr
	for _, fe := range p.frontends {
		for _, l := range fe.listeners {
			out = append(out, l.Addr())
		}
	}
	return out
}

// StatsAddrs are the runtime API's socket addresses ("stats socket"), in
// configuration order.
func (p *Proxy) StatsAddrs() []net.Addr {
	if p.api == nil {
		return nil
	}
	return p.api.Addrs()
}

func (p *Proxy) closeListeners() {
	p.admMu.Lock() // pauseFull reads the listeners
	defer p.admMu.Unlock()
	for _, fe := range p.frontends {
		for _, l := range fe.listeners {
			_ = l.Close()
		}
		fe.listeners = nil
	}
}

// SoftStop is HAProxy's soft-stop (SIGUSR1): stop accepting and stop the
// health checks; sessions already accepted go on. Done is closed once the
// last one ends.
func (p *Proxy) SoftStop() {
	p.stopOnce.Do(func() {
		p.stopping.Store(true)
		p.closeListeners()
		// The runtime API stops with the listeners, as HAProxy's old
		// process unbinds every socket on a soft-stop.
		if p.api != nil {
			_ = p.api.Close()
		}
		for _, c := range p.checks {
			c.stop()
		}
		p.maybeDone()
	})
}

// Done is closed after SoftStop once no session is left.
func (p *Proxy) Done() <-chan struct{} { return p.done }

// Sessions is the number of sessions not yet finished (any phase).
func (p *Proxy) Sessions() int { return int(p.live.Load()) }

func (p *Proxy) maybeDone() {
	if p.stopping.Load() && p.live.Load() == 0 {
		p.doneOnce.Do(func() {
			for _, t := range p.tableList {
				t.Stop() // no expiry timers left behind
			}
			close(p.done)
		})
	}
}

// FrontendStats returns a frontend's counters (false if unknown).
func (p *Proxy) FrontendStats(name string) (Counters, bool) {
	for _, fe := range p.frontends {
		if fe.cfg.Name == name {
			return fe.st.snapshot(), true
		}
	}
	return Counters{}, false
}

// BackendStats returns a backend's counters (false if unknown).
func (p *Proxy) BackendStats(name string) (Counters, bool) {
	for _, be := range p.backends {
		if be.cfg.Name == name {
			return be.st.snapshot(), true
		}
	}
	return Counters{}, false
}

// ServerStats returns a server's counters and whether it is up.
func (p *Proxy) ServerStats(backend, name string) (c Counters, up bool, ok bool) {
	for _, be := range p.backends {
		if be.cfg.Name != backend {
			continue
		}
		for _, s := range be.servers {
			if s.cfg.Name == name {
				return s.st.snapshot(), s.isUp(), true
			}
		}
	}
	return Counters{}, false, false
}

// ServerCheck returns the result of a server's last health check (false:
// unknown server, or no check finished yet).
func (p *Proxy) ServerCheck(backend, name string) (CheckResult, bool) {
	for _, be := range p.backends {
		if be.cfg.Name != backend {
			continue
		}
		for _, s := range be.servers {
			if s.cfg.Name == name {
				if r := s.check.Load(); r != nil {
					return *r, true
				}
			}
		}
	}
	return CheckResult{}, false
}

// logf writes one log line when logging is configured for the frontend.
func (p *Proxy) logf(format string, args ...any) {
	if p.logw == nil {
		return
	}
	line := fmt.Sprintf(format, args...)
	p.logMu.Lock()
	defer p.logMu.Unlock()
	_, _ = io.WriteString(p.logw, line+"\n")
}

// addrPort converts an engine address to netip (zero if not TCP).
func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if a != nil {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
	}
	return netip.AddrPort{}
}
