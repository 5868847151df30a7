package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/supervise"
)

func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// A fake engine: `version` answers like spec/cli.md, `serve` prints READY
// and exits 0 on SIGTERM, `crash` exits before READY, `noisy` writes to
// stdout after READY.
const fakeEngine = `case "$1" in
version) echo "fake netmodels 0.0.0 (sh)";;
serve) trap 'exit 0' TERM; echo "READY 127.0.0.1:1 127.0.0.1:2"; while :; do sleep 0.05; done;;
crash) echo "fake: bad flag --x" >&2; exit 2;;
noisy) trap 'exit 0' TERM; printf 'READY 127.0.0.1:1\nextra\n'; while :; do sleep 0.05; done;;
esac
`

func TestDiscoverAndProcess(t *testing.T) {
	supervise.NoLeaks(t)
	dir := t.TempDir()
	script(t, dir, "fake", fakeEngine)
	script(t, dir, "tool", `echo "something else"`)
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BIN_DIR", dir)
	t.Setenv("ENGINES", "")
	es, err := Discover()
	if err != nil || len(es) != 1 || es[0].Name != "fake" {
		t.Fatalf("Discover: %v %v", es, err)
	}
	t.Setenv("ENGINES", "fake, tool")
	if _, err := Discover(); err == nil || !strings.Contains(err.Error(), "tool") {
		t.Fatalf("ENGINES naming a non-engine: %v", err)
	}

	p, err := StartProc(es[0], "serve")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Addrs) != 2 || p.Addr(1) != "127.0.0.1:2" {
		t.Fatalf("READY addrs %v", p.Addrs)
	}
	if problem := p.cleanupStop(); problem != "" {
		t.Fatalf("clean stop reported %q", problem)
	}
	if _, err := StartProc(es[0], "crash"); err == nil || !strings.Contains(err.Error(), "bad flag") {
		t.Fatalf("crash before READY: %v", err)
	}
	n, err := StartProc(es[0], "noisy")
	if err != nil {
		t.Fatal(err)
	}
	// Give the extra line time to be read: the copy goroutine runs until
	// the process exits, which cleanupStop waits for.
	if problem := n.cleanupStop(); !strings.Contains(problem, "stdout after READY") {
		t.Fatalf("stdout after READY not reported: %q", problem)
	}
	r := Run(es[0], 5e9, "crash")
	if r.Code != 2 || !strings.Contains(r.Stderr, "bad flag") {
		t.Fatalf("Run: %+v", r)
	}
}

func TestMatrixWrite(t *testing.T) {
	cases := []Case{{ID: "a", Kind: KindMsgr, Spec: "§1", Desc: "first"}, {ID: "b", Kind: KindProxy, Spec: "§2", Desc: "second"}}
	r := NewResults([]Engine{{Name: "x"}}, cases)
	r.Set("x", "a", CellResult{Status: Pass})
	r.Set("x", "b", CellResult{Status: Fail, Reason: "broke | badly"})
	r.SetInterop(InteropCell{Table: "t", Row: "x", Col: "y", CaseID: "a", CellResult: CellResult{Status: Pass}})
	dir := t.TempDir()
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	var m matrixJSON
	b, _ := os.ReadFile(filepath.Join(dir, "matrix.json"))
	if err := json.Unmarshal(b, &m); err != nil || m.Summary["x"]["pass"] != 1 || m.Summary["x"]["fail"] != 1 {
		t.Fatalf("json: %v %+v", err, m.Summary)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "matrix.md"))
	for _, want := range []string{"| `a` | pass |", "**FAIL**", `broke \| badly`, "| `b` | proxy | §2 | second |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("matrix.md lacks %q", want)
		}
	}
}

func TestMatrixReference(t *testing.T) {
	cases := []Case{
		{ID: "m", Kind: KindMsgr},
		{ID: "same", Kind: KindProxy}, {ID: "one-off", Kind: KindProxy},
		{ID: "declared", Kind: KindProxy}, {ID: "cli", Kind: KindProxy},
	}
	r := NewResults([]Engine{{Name: "x"}, {Name: "y"}}, cases)
	r.SetReference(ReferenceName)
	for _, e := range []string{"x", "y"} {
		for _, c := range cases {
			r.Set(e, c.ID, CellResult{Status: Pass})
		}
	}
	r.Set("y", "one-off", CellResult{Status: Fail, Reason: "boom"})
	r.Set(ReferenceName, "same", CellResult{Status: Pass})
	r.Set(ReferenceName, "one-off", CellResult{Status: Pass})
	r.Set(ReferenceName, "declared", CellResult{Status: Differs, Reason: "lenient"})
	r.Set(ReferenceName, "cli", CellResult{Status: Unsupported, Reason: "flags"})
	dir := t.TempDir()
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	var m matrixJSON
	b, _ := os.ReadFile(filepath.Join(dir, "matrix.json"))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Reference != ReferenceName || m.Summary[ReferenceName]["pass"] != 2 || m.Summary[ReferenceName]["differs"] != 1 ||
		m.Summary[ReferenceName]["unsupported"] != 1 {
		t.Fatalf("reference summary %q %+v", m.Reference, m.Summary[ReferenceName])
	}
	if _, ok := m.Agreement["m"]; ok {
		t.Error("a msgr case has an agreement entry")
	}
	for id, want := range map[string]string{
		"same":     "same as haproxy",
		"one-off":  "same as haproxy except y (fail)",
		"declared": "differs from haproxy (declared)",
		"cli":      "haproxy cannot run it",
	} {
		if got := m.Agreement[id].Verdict; got != want {
			t.Errorf("%s: verdict %q, want %q", id, got, want)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, "matrix.md"))
	for _, want := range []string{
		"| case | x | y | haproxy | vs haproxy |",
		"| `same` | pass | pass | pass | same as haproxy |",
		"| `declared` | pass | pass | differs | differs from haproxy (declared) |",
		"| `m` | pass | pass | – | – |\n",
		"haproxy / `cli` (unsupported): flags",
		"| haproxy (reference; proxy cases) | 2 | 0 | 1 (+1 differ as declared) | 0 |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("matrix.md lacks %q", want)
		}
	}
}

// TestMatrixV2 checks the v2 column group: variants derived from the
// plans, their cells beside the msgr1 ones, declarations with reasons,
// and the lossless switch.
func TestMatrixV2(t *testing.T) {
	base := []Case{
		{ID: "runs", Kind: KindMsgr, Desc: "echo", V2: V2Plan{Mode: V2Runs}},
		{ID: "lossless", Kind: KindMsgr, V2: V2Plan{Mode: V2Lossless}},
		{ID: "raw", Kind: KindMsgr, V2: V2Plan{Mode: V2V1Wire}},
		{ID: "pair", Kind: KindInterop, V2: V2Plan{Mode: V2Runs}},
		{ID: "chain", Kind: KindInterop},
		{ID: "p", Kind: KindProxy},
	}
	vs := V2Variants(base)
	if len(vs) != 3 || vs[0].ID != "runs@v2" || vs[0].Base != "runs" || vs[0].Protocol != "v2" || !strings.Contains(vs[0].Desc, "msgr2") {
		t.Fatalf("variants %+v", vs)
	}
	r := NewResults([]Engine{{Name: "x"}}, append(base, vs...))
	for _, c := range append(base, vs...) {
		r.Set("x", c.ID, CellResult{Status: Pass})
	}
	r.Set("x", "pair@v2", CellResult{Status: Fail, Reason: "v2 broke"})
	dir := t.TempDir()
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	var m matrixJSON
	b, _ := os.ReadFile(filepath.Join(dir, "matrix.json"))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if s := m.Summary["x"]; s["pass"] != 6 || s["fail"] != 0 {
		t.Errorf("msgr1 summary %+v", s)
	}
	if s := m.SummaryV2["x"]; s["pass"] != 2 || s["fail"] != 1 || s["unsupported"] != 0 {
		t.Errorf("v2 summary %+v", s)
	}
	if m.V2["raw"].Mode != V2V1Wire || !strings.HasPrefix(m.V2["raw"].Reason, "v1 wire bytes") || m.V2["runs"].Mode != V2Runs {
		t.Errorf("v2 plans %+v", m.V2)
	}
	if _, ok := m.V2["p"]; ok {
		t.Error("a proxy case has a v2 plan")
	}
	md, _ := os.ReadFile(filepath.Join(dir, "matrix.md"))
	for _, want := range []string{
		"| case | x | v2: x |",
		"| `runs` | pass | pass |\n",
		"| `lossless` | pass | pass |\n",
		"| `raw` | pass | v1 wire bytes |\n",
		"| `pair` | pass | **FAIL** |\n",
		"| `chain` | pass | – |\n",
		"| x, msgr2 variants (`@v2`) | 2 | 1 | 0 | 0 |",
		"x / `pair@v2` (fail): v2 broke",
		"- No variant (1), v1 wire bytes",
		"- Run over v2 with lossless sessions (1): `lossless`",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("matrix.md lacks %q", want)
		}
	}
	if strings.Contains(string(md), "| `runs@v2` | pass") {
		t.Error("a variant has a row of its own in the engine × case table")
	}
}

func TestAssignBindPorts(t *testing.T) {
	cfg := "frontend a\n    bind 127.0.0.1:0 accept-proxy # first\n    bind [::1]:0\n    bind 127.0.0.1:7000,ipv4@127.0.0.1:0\n" +
		"    bind /run/x.sock\n    bind 127.0.0.1:8000-8010\n    default_backend b\nbackend b\n    server s 127.0.0.1:0\n"
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		cfg = strings.Replace(cfg, "    bind [::1]:0\n", "", 1)
	} else {
		ln.Close()
	}
	out, addrs, err := assignBindPorts(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.SplitN(out, "backend b", 2)[0], ":0") {
		t.Fatalf("a bind port 0 is left:\n%s", out)
	}
	if !strings.Contains(out, "server s 127.0.0.1:0") || !strings.Contains(out, "accept-proxy # first") ||
		!strings.Contains(out, "bind /run/x.sock") || !strings.Contains(out, "127.0.0.1:8000-8010") || !strings.Contains(out, "127.0.0.1:7000,ipv4@127.0.0.1:") {
		t.Fatalf("rewrite touched more than bind ports:\n%s", out)
	}
	want := 4
	if !strings.Contains(cfg, "[::1]") {
		want = 3
	}
	if len(addrs) != want || !strings.HasPrefix(addrs[0], "127.0.0.1:") || addrs[len(addrs)-2] != "127.0.0.1:7000" {
		t.Fatalf("addrs %v", addrs)
	}
	for _, a := range addrs {
		if !strings.Contains(out, a) && !strings.Contains(out, strings.Trim(a, "[]")) {
			t.Errorf("address %s not in the rewritten config", a)
		}
	}
}

// TestStartHAProxy runs a two-bind configuration on real haproxy: both
// READY-like addresses are listening and relay to the backend, and the
// PID is stopped in Cleanup.
func TestStartHAProxy(t *testing.T) {
	supervise.NoLeaks(t)
	ref, err := Reference()
	if err != nil || ref == nil {
		t.Fatalf("reference: %v (REFERENCE=%q)", err, os.Getenv("REFERENCE"))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("hello\n"))
			c.Close()
		}
	}()
	cfg := "global\n    maxconn 100\ndefaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n" +
		"frontend fe\n    bind 127.0.0.1:0\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    server s1 " + ln.Addr().String() + "\n"
	p := StartHAProxy(t, *ref, cfg)
	if len(p.Addrs) != 2 || p.Addr(0) == p.Addr(1) {
		t.Fatalf("addresses %v, want two distinct binds", p.Addrs)
	}
	for _, a := range p.Addrs {
		c, err := net.DialTimeout("tcp", a, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 6)
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "hello\n" {
			t.Errorf("through %s: %q %v", a, b, err)
		}
		c.Close()
	}
	// A port taken meanwhile (here by ln itself) is an error StartHAProxy
	// retries on: haproxy must not share it (-dR: no SO_REUSEPORT).
	taken := strings.Replace(cfg, "bind 127.0.0.1:0\n    bind 127.0.0.1:0", "bind "+ln.Addr().String(), 1)
	path := filepath.Join(t.TempDir(), "taken.cfg")
	if err := os.WriteFile(path, []byte(taken), 0o644); err != nil {
		t.Fatal(err)
	}
	if q, err := startHAProxy(*ref, path, []string{ln.Addr().String()}); err == nil {
		_ = q.Stop()
		t.Error("haproxy started on a port another socket listens on")
	} else if t.Logf("taken port: %v", err); !retryable(err) {
		t.Errorf("a taken port gave %v, which StartHAProxy does not retry", err)
	}
	// RunHAProxy -c: the case's own error is what haproxy reports, not the
	// port 0 of its bind line.
	bad := filepath.Join(t.TempDir(), "bad.cfg")
	if err := os.WriteFile(bad, []byte(strings.Replace(cfg, "default_backend be", "frobnicate 1\n    default_backend be", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := RunHAProxy(*ref, 10*time.Second, "-c", "-f", bad); r.Code != 1 || !strings.Contains(r.Stderr, "bad.cfg:11") || strings.Contains(r.Stderr, "port") {
		t.Errorf("haproxy -c on bad.cfg: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if r := Run(*ref, time.Second, "proxy", "-f", "x"); r.Code != -1 || !strings.Contains(r.Stderr, "unsupported.go") {
		t.Errorf("Run on the reference: %+v", r)
	}
}

// TestVariantInheritsUnsupported: an engine that declared a case
// unsupported gets the same declaration on its msgr2 variant, and a
// lossless variant runs with lossless policies.
func TestVariantInheritsUnsupported(t *testing.T) {
	unsupported["fake-engine"] = map[string]string{"base-case": "spec/x.md: cannot"}
	defer delete(unsupported, "fake-engine")
	vs := V2Variants([]Case{
		{ID: "base-case", Kind: KindMsgr, V2: V2Plan{Mode: V2Runs}, Run: func(t *T, e Engine) { t.Fatal("ran a declared cell") }},
		{ID: "needs-lossless", Kind: KindMsgr, V2: V2Plan{Mode: V2Lossless}, Run: func(t *T, e Engine) {
			if !t.lossless {
				t.Fatal("a lossless variant runs without lossless policies")
			}
		}},
	})
	r := NewResults([]Engine{{Name: "fake-engine"}}, vs)
	t.Run("cells", func(t *testing.T) {
		for _, c := range vs {
			r.RunCase(t, c, Engine{Name: "fake-engine"}, make(chan struct{}, 1))
		}
	})
	if c := r.Cells["fake-engine"]["base-case@v2"]; c.Status != Unsupported || c.Reason != "spec/x.md: cannot" {
		t.Errorf("variant of a declared case: %+v", c)
	}
	if c := r.Cells["fake-engine"]["needs-lossless@v2"]; c.Status != Pass {
		t.Errorf("lossless variant: %+v", c)
	}
}

// TestUnavailableIsUnsupported: a case that ends with Unavailable is an
// unsupported cell with its reason; any other self-skip is a failure, and
// Engine.Place wraps what the harness runs.
func TestUnavailableIsUnsupported(t *testing.T) {
	cs := []Case{
		{ID: "needs-root", Kind: KindMsgr, Run: func(t *T, e Engine) { t.Unavailable("needs root") }},
		{ID: "skips", Kind: KindMsgr, Run: func(t *T, e Engine) { t.SkipNow() }},
	}
	r := NewResults([]Engine{{Name: "fake-engine"}}, cs)
	t.Run("cells", func(t *testing.T) {
		for _, c := range cs {
			r.RunCase(t, c, Engine{Name: "fake-engine"}, make(chan struct{}, 1))
		}
	})
	if c := r.Cells["fake-engine"]["needs-root"]; c.Status != Unsupported || c.Reason != "needs root" {
		t.Errorf("Unavailable: %+v", c)
	}
	if c := r.Cells["fake-engine"]["skips"]; c.Status != Fail {
		t.Errorf("a plain skip: %+v, want fail", c)
	}
	e := Engine{Name: "x", Path: "/bin/x", Place: func(s supervise.Spec) supervise.Spec {
		s.Args = append([]string{"wrapped", s.Path}, s.Args...)
		s.Path = "/bin/wrapper"
		return s
	}}
	if s := spec(e, []string{"a"}); s.Path != "/bin/wrapper" || strings.Join(s.Args, " ") != "wrapped /bin/x a" {
		t.Errorf("Place not applied: %+v", s)
	}
}

// TestExclusiveRunsAlone: an Exclusive case overlaps no other case (the
// plain ones around it are parallel subtests that would otherwise run
// beside it).
func TestExclusiveRunsAlone(t *testing.T) {
	var mu sync.Mutex
	running := map[string]bool{}
	enter := func(id string) (others int) {
		mu.Lock()
		defer mu.Unlock()
		running[id] = true
		return len(running) - 1
	}
	leave := func(id string) (others int) {
		mu.Lock()
		defer mu.Unlock()
		delete(running, id)
		return len(running)
	}
	var cs []Case
	for i := range 6 {
		id := fmt.Sprintf("plain-%d", i)
		cs = append(cs, Case{ID: id, Kind: KindMsgr, Run: func(t *T, e Engine) {
			enter(id)
			time.Sleep(10 * time.Millisecond) // a window to overlap in, not synchronisation
			leave(id)
		}})
		if i == 2 {
			cs = append(cs, Case{ID: "exclusive", Kind: KindMsgr, Exclusive: true, Run: func(t *T, e Engine) {
				if n := enter("exclusive"); n != 0 {
					t.Errorf("the exclusive case started beside %d others", n)
				}
				time.Sleep(10 * time.Millisecond)
				if n := leave("exclusive"); n != 0 {
					t.Errorf("%d cases started beside the exclusive one", n)
				}
			}})
		}
	}
	r := NewResults([]Engine{{Name: "fake-engine"}}, cs)
	t.Run("cells", func(t *testing.T) {
		for _, c := range cs {
			r.RunCase(t, c, Engine{Name: "fake-engine"}, make(chan struct{}, 1))
		}
	})
	for _, c := range cs {
		if got := r.Cells["fake-engine"][c.ID]; got.Status != Pass {
			t.Errorf("%s: %+v", c.ID, got)
		}
	}
}
