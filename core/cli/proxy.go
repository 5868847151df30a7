package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/proxy"
	"github.com/netmodels/netmodels/core/proxy/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func init() {
	Register(Command{
		Name:    "proxy",
		Summary: "HAProxy mode tcp compatible proxy: proxy -f haproxy.cfg [-f more.cfg] [--metrics HOST:PORT]",
		Run:     runProxy,
	})
}

// fileList collects repeated -f flags.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

// sigtermGrace is how long SIGTERM lets sessions finish before the engine
// drops them, inside the contract's 5 s.
const sigtermGrace = time.Second

func runProxy(env *Env, args []string) int {
	fs := NewFlagSet(env, "proxy")
	var files fileList
	fs.Var(&files, "f", "configuration file (repeatable; read in order as one configuration)")
	metrics := fs.String("metrics", "", "serve Prometheus metrics at HOST:PORT/metrics")
	workers := fs.Int("workers", 0, "engine loops (default: number of CPUs)")
	checkOnly := fs.Bool("c", false, "check the configuration and exit (haproxy -c)")
	if st, ok := ParseFlags(env, fs, args); !ok {
		return st
	}
	if len(files) == 0 {
		return env.Usagef("proxy: missing -f FILE")
	}
	cfg, err := config.ParseFiles(files, config.Options{LookupEnv: os.LookupEnv})
	if err != nil {
		return env.Usagef("%v", err)
	}
	for _, w := range cfg.Warnings {
		env.Logf("%s", w)
	}
	if *checkOnly {
		env.Logf("Configuration file is valid")
		return 0
	}

	ecfg := proxy.EngineConfig(cfg)
	ecfg.Workers = *workers
	eng, err := env.Engine.New(ecfg)
	if err != nil {
		return env.Usagef("proxy: engine: %v", err)
	}
	opts := proxy.Options{Engine: eng, Log: &prefixWriter{w: env.Stderr, prefix: env.Engine.Name + ": "}}
	var reg *prometheus.Registry
	if *metrics != "" {
		reg = newRegistry()
		opts.Registerer = reg
	}
	p, err := proxy.New(cfg, opts)
	if err != nil {
		_ = ShutdownEngine(eng)
		return env.Usagef("%v", err)
	}
	var mln net.Listener
	if *metrics != "" {
		mln, err = net.Listen("tcp", *metrics)
		if err != nil {
			_ = ShutdownEngine(eng)
			return env.Usagef("proxy: --metrics %s: %v", *metrics, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(mln) }()
		defer srv.Close()
	}
	if err := p.Start(); err != nil {
		_ = ShutdownEngine(eng)
		return env.Usagef("%v", err)
	}
	addrs := p.Addrs()
	if mln != nil {
		// The metrics address comes last so ":0" can be found.
		addrs = append(addrs, mln.Addr())
	}
	env.Logf("proxy: %d frontends, %d backends, tune.bufsize %d, engine %s", len(cfg.Frontends), len(cfg.Backends), cfg.Global.BufSize, eng.Name())
	env.Ready(addrs...)

	for {
		select {
		case <-env.Ctx.Done():
			// SIGTERM/SIGINT: stop accepting, give sessions a short grace,
			// then drop the rest; exit 0 within 5 s (CONTRACT.md).
			p.SoftStop()
			select {
			case <-p.Done():
			case <-time.After(sigtermGrace):
			}
			return shutdownProxy(env, eng)
		case sig := <-env.Signals:
			if sig != syscall.SIGUSR1 {
				env.Logf("proxy: ignoring signal %v", sig)
				continue
			}
			// HAProxy's soft-stop: stop accepting, let sessions finish,
			// exit when done or after hard-stop-after.
			env.Logf("proxy: soft-stop: %d sessions to finish", p.Sessions())
			p.SoftStop()
			var hard <-chan time.Time
			if d := cfg.Global.HardStopAfter; d > 0 {
				hard = time.After(d)
			}
			select {
			case <-p.Done():
			case <-hard:
				env.Logf("proxy: hard-stop-after reached, closing %d sessions", p.Sessions())
			case <-env.Ctx.Done():
			}
			return shutdownProxy(env, eng)
		}
	}
}

func shutdownProxy(env *Env, eng engine.Engine) int {
	if err := ShutdownEngine(eng); err != nil && !errors.Is(err, engine.ErrEngineClosed) {
		env.Logf("proxy: shutdown: %v", err)
	}
	return 0
}

// prefixWriter prefixes every line written to w (the proxy writes whole
// lines) with the engine name, as spec/cli.md asks of logs.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	_, err := fmt.Fprintf(p.w, "%s%s", p.prefix, b)
	return len(b), err
}
