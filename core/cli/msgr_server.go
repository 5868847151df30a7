package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

func init() {
	Register(Command{Name: "msgr-server", Summary: "msgr1/msgr2 echo server, or a fake OSD (spec/messenger.md)", Run: runMsgrServer})
}

// runMsgrServer is msgr-server: one messenger bound to each --listen whose
// dispatcher is the echo service or, with --reply osd, a fake OSD, until
// SIGTERM/SIGINT.
func runMsgrServer(env *Env, args []string) int {
	fs := NewFlagSet(env, "msgr-server")
	var f msgrFlags
	f.register(fs, "osd.0", "stateful_server")
	var listen listenFlags
	fs.Var(&listen, "listen", "HOST:PORT to listen on (port 0: any), speaking --protocol; v1:HOST:PORT or v2:HOST:PORT names the protocol, and one of each listens on both")
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
	binds, err := listen.resolve(f.protocol, flagSet(fs, "protocol"))
	if err != nil {
		return env.Usagef("%v", err)
	}
	for _, b := range binds {
		if b.v2 {
			// What msgr2 refuses (f.check) applies as soon as one
			// listener speaks it.
			f.protocol = "v2"
		}
	}
	if st, ok := f.check(env); !ok {
		return st
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
	for _, b := range binds {
		if err := m.Bind(b.bind()); err != nil {
			_ = ShutdownEngine(eng)
			return env.Usagef("--listen %s: %v", b.arg, err)
		}
	}
	// READY lists the listeners in --listen order, each as its client
	// dials it: msgr1 as HOST:PORT; msgr2 in Ceph's text form with the
	// nonce, since msgr2 has no banner address and the client must know
	// it.
	var addrs []net.Addr
	for i, la := range m.ListenAddrs() {
		if !binds[i].v2 {
			addrs = append(addrs, la)
			continue
		}
		for _, a := range m.Addrs() {
			if a.Type == wire.AddrTypeMsgr2 {
				addrs = append(addrs, typedAddr(a.TypedString()))
			}
		}
	}
	var hs *http.Server
	if ml != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		hs = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = hs.Serve(ml) }()
		addrs = append(addrs, ml.Addr())
	}
	var at []string
	for _, a := range m.Addrs() {
		at = append(at, a.TypedString())
	}
	env.Logf("msgr-server %s at %s (policy %s)", f.name, strings.Join(at, ", "), f.policy)
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

// listenFlags are the --listen values, in order (the flag may be given
// once per protocol).
type listenFlags []string

func (l *listenFlags) String() string { return strings.Join(*l, " ") }

func (l *listenFlags) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// listenAddr is one listener to bind.
type listenAddr struct {
	arg      string // as given
	hostport string
	v2       bool
}

// bind is the address for Messenger.Bind.
func (b listenAddr) bind() string {
	if b.v2 {
		return "v2:" + b.hostport
	}
	return b.hostport
}

// resolve gives each --listen its protocol: its prefix (v1:, v2:), else
// proto (--protocol). An explicit --protocol that a prefix contradicts,
// and two listeners of one protocol, are usage errors.
func (l listenFlags) resolve(proto string, protoSet bool) ([]listenAddr, error) {
	if len(l) == 0 {
		return nil, errors.New("msgr-server: --listen HOST:PORT is required")
	}
	if proto != "v1" && proto != "v2" {
		return nil, fmt.Errorf("--protocol %q: want v1 or v2", proto)
	}
	var out []listenAddr
	var seen [2]string
	for _, arg := range l {
		b := listenAddr{arg: arg, hostport: arg, v2: proto == "v2"}
		p := proto
		if rest, ok := strings.CutPrefix(arg, "v2:"); ok {
			b.hostport, b.v2, p = rest, true, "v2"
		} else if rest, ok := strings.CutPrefix(arg, "v1:"); ok {
			b.hostport, b.v2, p = rest, false, "v1"
		}
		if protoSet && p != proto {
			return nil, fmt.Errorf("--listen %s is a %s address, but --protocol is %s (to listen on both, prefix each --listen with v1: or v2: and leave --protocol out)", arg, p, proto)
		}
		if err := checkHostPort(b.hostport); err != nil {
			return nil, fmt.Errorf("--listen %q: %v", arg, err)
		}
		i := 0
		if b.v2 {
			i = 1
		}
		if seen[i] != "" {
			return nil, fmt.Errorf("--listen %s and %s: both %s; one listener per protocol", seen[i], arg, p)
		}
		seen[i] = arg
		out = append(out, b)
	}
	return out, nil
}
