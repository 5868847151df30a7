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

	"github.com/netmodels/netmodels/core/dpdknet"
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

// The same tiny run for bin/dpdk over tap (root, and bin/dpdk built with
// DPDK at the repository root, as make test builds it): its msgr-server
// runs in the server namespace with a tap slot of the run's own pool and
// is measured across the link; dpdk-memif has no cell there. About 3 s.
func TestTwoHostsRunDPDK(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unsupported: " + netsim.ErrNeedRoot.Error())
	}
	eng, err := filepath.Abs(filepath.Join("..", "..", "bin", DPDK))
	if err != nil {
		t.Fatal(err)
	}
	// The stub (built without libdpdk) answers every command but version
	// with this; a real binary rejects the unknown command otherwise.
	out, _ := exec.Command(eng, "no-such-command").CombinedOutput()
	if _, serr := os.Stat(eng); serr != nil || strings.Contains(string(out), "built without DPDK support") {
		t.Skipf("unsupported: needs bin/dpdk built with DPDK (make build with libdpdk-dev): %v %s", serr, strings.TrimSpace(string(out)))
	}
	dir, self, bin := harnessDir(t, nil)
	if err := os.Symlink(eng, filepath.Join(bin, DPDK)); err != nil {
		t.Fatal(err)
	}
	lan, err := netsim.ParseProfile("lan")
	if err != nil {
		t.Fatal(err)
	}
	suite := Suite{Name: "test", Reps: 2, Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond, ScaleConns: 10, Calib: SmokeCalib}
	cfg := Config{Suite: suite, BinDir: bin, Engines: []string{DPDK, DPDKMemif}, ClientEngine: "goroutine", Self: self, PinCPU: -1, WorkDir: dir,
		Only: []string{"msgr-pingpong"}, Net: []netsim.Profile{lan}, DPDK: &DPDKConfig{Slots: dpdknet.NewPool(2)}}
	// The load comes from bin/goroutine's msgr-client.
	if err := os.Symlink(engineBinary(t, dir, "goroutine"), filepath.Join(bin, "goroutine")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t0 := time.Now()
	run, err := Run(ctx, cfg, ".")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run took %v", time.Since(t0).Round(time.Millisecond))
	if len(run.Scenarios) != 1 {
		t.Fatalf("scenarios: %+v", run.Scenarios)
	}
	sc := run.Scenarios[0]
	c := sc.Cell(DPDK)
	if c == nil || c.Status != result.StatusOK || len(c.Reps) != 2 || c.Summary["p50_us"].Median <= 0 {
		t.Fatalf("dpdk cell: %+v (notes %v)", c, run.Notes)
	}
	if !strings.Contains(c.Server, "--tap=nmtapN") || !strings.Contains(c.Server, "--metrics "+netsim.ServerIP.String()+":PORT") {
		t.Errorf("dpdk msgr-server not on a tap slot with its metrics on the server side: %s", c.Server)
	}
	for i, r := range c.Reps {
		if _, ok := r.Metrics["resent_messages_total"]; !ok {
			t.Errorf("repetition %d: no messenger counters from /metrics: %v", i+1, r.Metrics)
		}
	}
	t.Logf("dpdk across lan: p50 %.0f µs", c.Summary["p50_us"].Median)
	if m := sc.Cell(DPDKMemif); m != nil && m.Status != result.StatusAbsent {
		t.Errorf("dpdk-memif over two hosts: %s", m.Status)
	}
}
