package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/netsim"
	"github.com/netmodels/netmodels/perf/result"
)

// engineBinary is bin/NAME at the repository root (make test builds it
// first), or built into dir when missing.
func engineBinary(t *testing.T, dir, name string) string {
	t.Helper()
	if p, err := filepath.Abs(filepath.Join("..", "..", "bin", name)); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p := filepath.Join(dir, name)
	out, err := exec.Command("go", "build", "-o", p, "github.com/netmodels/netmodels/impl-"+name+"/cmd/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return p
}

// One tiny two-hosts run: the messenger 4 KiB ping-pong over lan, for
// the goroutine engine and its raw-TCP anchor, 2 × 0.1 s. As root both
// cells measure across the topology (the server on its address, the
// /metrics counters read) and no namespace is left; otherwise every cell
// is absent with netsim's reason and the test says unsupported.
func TestTwoHostsRun(t *testing.T) {
	t0 := time.Now()
	dir, self, bin := harnessDir(t, nil)
	eng := engineBinary(t, dir, "goroutine")
	t.Logf("binaries ready after %v", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	if err := os.Symlink(eng, filepath.Join(bin, "goroutine")); err != nil {
		t.Fatal(err)
	}
	lan, err := netsim.ParseProfile("lan")
	if err != nil {
		t.Fatal(err)
	}
	suite := Suite{Name: "test", Reps: 2, Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond, ScaleConns: 10, Calib: SmokeCalib}
	cfg := Config{Suite: suite, BinDir: bin, Engines: []string{"goroutine"}, ClientEngine: "goroutine", Self: self, PinCPU: -1, WorkDir: dir,
		Only: []string{"msgr-pingpong"}, Net: []netsim.Profile{lan}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run, err := Run(ctx, cfg, ".")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run took %v", time.Since(t0).Round(time.Millisecond))
	if len(run.Scenarios) != 1 || run.Scenarios[0].ID != "msgr-pingpong-4KiB-unpinned@lan" || run.Scenarios[0].Net != "lan" {
		t.Fatalf("scenarios: %+v", run.Scenarios)
	}
	sc := run.Scenarios[0]
	if os.Geteuid() != 0 {
		for _, c := range sc.Cells {
			if c.Status != result.StatusAbsent || !strings.Contains(c.Reason, "needs root") {
				t.Fatalf("not root, %s: %s %q", c.Target, c.Status, c.Reason)
			}
		}
		t.Skip("unsupported: " + netsim.ErrNeedRoot.Error())
	}
	for _, target := range []string{RawTCP, "goroutine"} {
		c := sc.Cell(target)
		if c == nil || c.Status != result.StatusOK || len(c.Reps) != 2 || c.Summary["p50_us"].Median <= 0 {
			t.Fatalf("%s cell: %+v", target, c)
		}
	}
	g := sc.Cell("goroutine")
	if !strings.Contains(g.Server, "--listen "+netsim.ServerIP.String()+":0") || !strings.Contains(g.Server, "--metrics "+netsim.ServerIP.String()+":PORT") {
		t.Errorf("goroutine msgr-server not on the server side's address: %s", g.Server)
	}
	for i, r := range g.Reps {
		if _, ok := r.Metrics["resent_messages_total"]; !ok {
			t.Errorf("repetition %d: no messenger counters from /metrics: %v (notes %v)", i+1, r.Metrics, run.Notes)
		}
	}
	if run.Extra["net_lan"] == "" || !strings.Contains(run.Extra["topology"], "two-hosts") {
		t.Errorf("run extra: %v", run.Extra)
	}
	ents, _ := os.ReadDir("/run/netns")
	mine := fmt.Sprintf("%s%d-", netsim.NetnsPrefix, os.Getpid())
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), mine) {
			t.Errorf("namespace %s left after the run", e.Name())
		}
	}
}
