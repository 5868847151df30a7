package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/peers"
	"github.com/netmodels/netmodels/perf/result"
)

func TestTLSProxyConfig(t *testing.T) {
	r := &runner{cfg: Config{WorkDir: t.TempDir()}}
	var certs []string
	for _, l := range tlsListeners {
		p, err := r.certPath(l.cert)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, p)
	}
	if p, _ := r.certPath(tlsListeners[0].cert); p != certs[0] {
		t.Fatalf("certificate made twice: %s, %s", p, certs[0])
	}
	front := []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}
	cfg := tlsProxyConfig(front, []string{"127.0.0.1:4", "127.0.0.1:4", "127.0.0.1:5"}, certs, 500)
	for _, want := range []string{"maxconn 500", "mode tcp", "no-tls-tickets", "tune.ssl.cachesize 0",
		"listen tls-ecdsa\n    bind 127.0.0.1:1 ssl crt " + certs[0] + "\n    server s1 127.0.0.1:4",
		"listen tls-rsa\n    bind 127.0.0.1:2 ssl crt " + certs[1] + "\n    server s1 127.0.0.1:4",
		"listen tls-sink\n    bind 127.0.0.1:3 ssl crt " + certs[2] + "\n    server s1 127.0.0.1:5"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	// What HAProxy 2.6 itself says of it.
	bin, err := peers.HAProxyBinary()
	if err != nil {
		t.Skip("haproxy not installed: the config is not checked by it")
	}
	path := filepath.Join(t.TempDir(), "tls.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "WARNING") {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
}

// The TLS scenarios end to end with haproxy and an engine whose proxy
// refuses to start: haproxy's cells are measured, the engine's fail with
// its reason.
func TestTLSScenariosWithHAProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the perf binary")
	}
	if _, err := peers.HAProxyBinary(); err != nil {
		t.Skip("haproxy not installed (the harness reports the cells absent)")
	}
	dir, self, bin := harnessDir(t, map[string]string{"fake": fakeEngine})
	suite := Suite{Name: "test", Reps: 2, Warmup: 10 * time.Millisecond, Duration: 50 * time.Millisecond, ScaleConns: 10,
		Scenarios: []string{"tls-handshake-ecdsa", "tls-handshake-rsa2048", "tls-stream-1-pinned", "tls-idle"}}
	// Pinned to CPU 0, which every machine has, so the pinned stream runs.
	cfg := Config{Suite: suite, BinDir: bin, Engines: []string{"fake"}, ClientEngine: "fake", Self: self, PinCPU: 0, WorkDir: dir}
	run, err := Run(context.Background(), cfg, ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Scenarios) != 4 {
		t.Fatalf("%d scenarios", len(run.Scenarios))
	}
	for _, sc := range run.Scenarios {
		h, f := sc.Cell(HAProxy), sc.Cell("fake")
		if h.Status != result.StatusOK {
			t.Errorf("%s: haproxy %s: %s", sc.ID, h.Status, h.Reason)
			continue
		}
		m := sc.Metrics[0].Name
		if h.Summary[m].Median <= 0 {
			t.Errorf("%s: haproxy %s = %v", sc.ID, m, h.Summary[m])
		}
		if f.Status != result.StatusFailed || !strings.Contains(f.Reason, "proxy: not implemented") {
			t.Errorf("%s: fake proxy: %+v", sc.ID, f)
		}
	}
	if cfgText := run.Extra["tls_proxy_config"]; !strings.Contains(cfgText, "ssl crt "+certDirShown+"/") {
		t.Errorf("report's TLS config does not hide the run folder:\n%s", cfgText)
	}
}
