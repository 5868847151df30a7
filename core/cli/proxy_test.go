package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/core/engine/memengine"
)

func memEngine() Engine { return Engine{Name: "mem", New: memengine.NewEngine} }

func writeCfg(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A bad configuration: exit 2, one line naming file:line, nothing on
// stdout (CONTRACT.md "Proxy").
func TestProxyBadConfig(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{"backend b\n    server s 127.0.0.1:1\n    frobnicate\n", `:3: unknown keyword "frobnicate" in 'backend' section`},
		{"defaults\n    mode http\n", ":2: mode http is not supported"},
	} {
		path := writeCfg(t, tc.cfg)
		var out, errb bytes.Buffer
		st := run(memEngine(), []string{"proxy", "-f", path}, &out, &errb)
		if st != ExitUsage {
			t.Errorf("%q: exit %d, want %d", tc.cfg, st, ExitUsage)
		}
		line := strings.TrimSuffix(errb.String(), "\n")
		if strings.Contains(line, "\n") || !strings.Contains(line, path+tc.want) {
			t.Errorf("%q: stderr %q, want one line with %q", tc.cfg, errb.String(), path+tc.want)
		}
		if out.Len() != 0 {
			t.Errorf("stdout %q", out.String())
		}
	}
}

func TestProxyFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if st := run(memEngine(), []string{"proxy"}, &out, &errb); st != ExitUsage || !strings.Contains(errb.String(), "missing -f") {
		t.Errorf("no -f: exit %d, stderr %q", st, errb.String())
	}
	errb.Reset()
	if st := run(memEngine(), []string{"proxy", "-f", "/nonexistent.cfg"}, &out, &errb); st != ExitUsage || !strings.Contains(errb.String(), "/nonexistent.cfg") {
		t.Errorf("missing file: exit %d, stderr %q", st, errb.String())
	}
	// -c checks two files as one configuration and exits 0.
	a := writeCfg(t, "defaults\n    mode tcp\n    timeout client 1s\n    timeout connect 1s\n    timeout server 1s\n")
	b := writeCfg(t, "listen l\n    bind 127.0.0.1:0\n    server s 127.0.0.1:1\n")
	errb.Reset()
	if st := run(memEngine(), []string{"proxy", "-c", "-f", a, "-f", b}, &out, &errb); st != 0 {
		t.Errorf("-c: exit %d, stderr %q", st, errb.String())
	}
}
