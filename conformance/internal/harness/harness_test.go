package harness

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
