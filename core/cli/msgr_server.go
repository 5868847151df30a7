package cli

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr"
)

func init() {
	Register(Command{Name: "msgr-server", Summary: "msgr1/msgr2 echo server, or a fake OSD (spec/messenger.md)", Run: runMsgrServer})
}

// runMsgrServer is msgr-server: one messenger bound to --listen whose
// dispatcher is the echo service or, with --reply osd, a fake OSD, until
// SIGTERM/SIGINT.
func runMsgrServer(env *Env, args []string) int {
	fs := NewFlagSet(env, "msgr-server")
	var f msgrFlags
	f.register(fs, "osd.0", "stateful_server")
	listen := fs.String("listen", "", "HOST:PORT to listen on (port 0: any)")
	thMsgs := fs.Int64("throttle-msgs", 0, "policy message throttle (0: unlimited)")
	thBytes := fs.Int64("throttle-bytes", 0, "policy byte throttle (0: unlimited)")
	dispBytes := fs.Int64("dispatch-throttle-bytes", 100<<20, "dispatch queue byte throttle")
	delay := fs.Duration("dispatch-delay", 0, "time the dispatcher takes per message")
	metrics := fs.String("metrics", "", "HOST:PORT serving Prometheus /metrics")
	reply := fs.String("reply", "echo", `the service: "echo" (ECHO → ECHO_REPLY) or "osd" (MOSDOp → MOSDOpReply, a fake OSD)`)
	nonce := fs.Uint64("nonce", 0, "the address nonce to announce (0: random; a fake OSD takes the nonce the OSD map lists)")
	if st, ok := ParseFlags(env, fs, args); !ok {
		return st
	}
	if *reply != "echo" && *reply != "osd" {
		return env.Usagef("--reply %q: want echo or osd", *reply)
	}
	if *nonce > 1<<32-1 {
		return env.Usagef("--nonce %d: a nonce is 32 bits", *nonce)
	}
	if *reply == "osd" && *delay != 0 {
		return env.Usagef("--dispatch-delay slows the echo service; --reply osd answers on the loop")
	}
	if *reply == "osd" && !flagSet(fs, "policy") {
		// A Ceph OSD's policy for clients: lossy, no session kept.
		f.policy = "stateless_server"
	}
	if st, ok := f.check(env); !ok {
		return st
	}
	if *listen == "" {
		return env.Usagef("msgr-server: --listen HOST:PORT is required")
	}
	if err := checkHostPort(*listen); err != nil {
		return env.Usagef("--listen %q: %v", *listen, err)
	}
	if *thMsgs < 0 || *thBytes < 0 || *dispBytes <= 0 || *delay < 0 {
		return env.Usagef("throttles must be >= 0 (--dispatch-throttle-bytes > 0) and --dispatch-delay >= 0")
	}
	var ml net.Listener
	if *metrics != "" {
		if err := checkHostPort(*metrics); err != nil {
			return env.Usagef("--metrics %q: %v", *metrics, err)
		}
		l, err := net.Listen("tcp", *metrics)
		if err != nil {
			return env.Usagef("--metrics %s: %v", *metrics, err)
		}
		ml = l
	}
	eng, err := env.Engine.New(engine.Config{Workers: f.workers})
	if err != nil {
		return env.Usagef("engine: %v", err)
	}
	reg := newRegistry()
	cfg := f.config(env)
	cfg.ThrottleMessages, cfg.ThrottleBytes, cfg.DispatchThrottleBytes = *thMsgs, *thBytes, *dispBytes
	cfg.Registry = reg
	cfg.RecycleFastDispatch = true // neither service keeps a message past FastDispatch
	if *nonce != 0 {
		cfg.Nonce, cfg.RandomNonce = uint32(*nonce), false
	}
	m, err := msgr.New(eng, cfg)
	if err != nil {
		_ = ShutdownEngine(eng)
		return env.Usagef("msgr-server: %v", err)
	}
	echo := &echoServer{delay: *delay}
	osd := &osdServer{logf: env.Logf}
	if *reply == "osd" {
		_ = m.Start(osd)
	} else {
		_ = m.Start(echo)
	}
	bind := *listen
	if f.protocol == "v2" {
		bind = "v2:" + bind
	}
	if err := m.Bind(bind); err != nil {
		_ = ShutdownEngine(eng)
		return env.Usagef("--listen %s: %v", *listen, err)
	}
	addrs := []net.Addr{m.ListenAddr()}
	if f.protocol == "v2" {
		// What a v2 client dials: msgr2 has no banner address, so the
		// client must know the nonce (Ceph's text form carries it).
		addrs[0] = typedAddr(m.Addr().TypedString())
	}
	var hs *http.Server
	if ml != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		hs = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = hs.Serve(ml) }()
		addrs = append(addrs, ml.Addr())
	}
	env.Logf("msgr-server %s at %s (policy %s)", f.name, m.Addr().TypedString(), f.policy)
	env.Ready(addrs...)
	<-env.Ctx.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if hs != nil {
		_ = hs.Shutdown(ctx)
	}
	_ = m.Shutdown(ctx)
	_ = ShutdownEngine(eng)
	if *reply == "osd" {
		env.Logf("msgr-server: osd replies %d (writes %d, deletes %d), other %d, dropped %d, malformed %d",
			osd.replies.Load(), osd.writes.Load(), osd.deletes.Load(), osd.other.Load(), osd.dropped.Load(), osd.malformed.Load())
	} else {
		env.Logf("msgr-server: echoed %d, other %d, dropped %d", echo.echoed.Load(), echo.other.Load(), echo.dropped.Load())
	}
	return 0
}

// typedAddr is an address in Ceph's text form on the READY line
// ("v2:127.0.0.1:6800/1234").
type typedAddr string

func (typedAddr) Network() string  { return "tcp" }
func (a typedAddr) String() string { return string(a) }
