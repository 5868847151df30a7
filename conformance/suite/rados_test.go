package suite

import (
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/netmodels/netmodels/conformance/internal/harness"
	"github.com/netmodels/netmodels/core/peers"
)

const tableRados = "msgr: real librados client (row) × msgr-server --reply osd (column)"

// radosCluster is the one mon and OSD every engine's rados case uses in
// turn (an OSD takes seconds to join): the first case starts it and
// vacates the real OSD, so that each engine's fake OSD can take its
// OSD-map address and nonce; TestMain stops it.
var radosCluster struct {
	sync.Mutex // held by a case for its whole run: one stand-in at a time
	cl         *peers.OSDCluster
	err        error
	tried      bool
}

// radosSetup returns the cluster, started on first use, with the lock held.
func radosSetup(t *harness.T) *peers.OSDCluster {
	t.Helper()
	c := &radosCluster
	c.Lock()
	t.Cleanup(c.Unlock)
	if !c.tried {
		c.tried = true
		if c.cl, c.err = peers.StartOSDCluster(peers.CephMonOptions{Addr: monAddr(t)}, peers.CephOSDOptions{}); c.err == nil {
			c.cl.Vacate()
		}
	}
	if c.err != nil {
		t.Fatalf("real peers (ceph-mon, ceph-osd): %v", c.err)
	}
	return c.cl
}

// stopRados ends the shared cluster (TestMain, after every case).
func stopRados() error {
	c := &radosCluster
	c.Lock()
	defer c.Unlock()
	if c.cl == nil {
		return nil
	}
	return c.cl.Stop()
}

var (
	radosWrites  = regexp.MustCompile(`(?m)^Total writes made:\s+(\d+)$`)
	radosRemoved = regexp.MustCompile(`(?m)^Removed (\d+) objects?$`)
	osdCounts    = regexp.MustCompile(`osd replies (\d+) \(writes (\d+), deletes (\d+)\), other (\d+), dropped (\d+), malformed (\d+)`)
)

func init() {
	interopCases = append(interopCases, harness.Case{ID: "interop-rados-bench", Kind: harness.KindInterop, Heavy: true,
		Spec: "spec/messenger.md Fake OSD; peers/ceph-osd.md",
		Desc: "librados (`rados bench -p bench 5 write -t 16`: 4 MiB writes, cleanup on) against this engine's msgr-server --reply osd at a real ceph-osd's OSD-map address and nonce: rados exits 0 and the server counted exactly what rados reports: writes made + 1 (its metadata object) writes, objects removed + 1 deletes, writes + removed + 3 replies (with the metadata read), nothing dropped or malformed",
		Run: func(t *harness.T, e harness.Engine) {
			cl := radosSetup(t)
			start := time.Now()
			err := radosBench(t, e, cl.Mon, cl.OSD)
			cell(t, tableRados, "rados bench", e.Name, "interop-rados-bench", start, err)
			checkMon(t, cl.Mon)
		}})
}

func radosBench(t *harness.T, e harness.Engine, mon *peers.CephMon, osd *peers.CephOSD) error {
	p := harness.Start(t, e, "msgr-server", "--listen", osd.Addr, "--reply", "osd", "--nonce", strconv.FormatUint(uint64(osd.Nonce), 10))
	// A lost reply fails the op after 30 s (librados waits forever by
	// default) instead of running into the command's bound.
	out, err := mon.Rados(90*time.Second, "--rados-osd-op-timeout", "30", "bench", "-p", osd.Pool, "5", "write", "-t", "16")
	if err != nil {
		return fmt.Errorf("rados bench: %v; server stderr: %s", err, p.StderrTail())
	}
	if err := p.Stop(); err != nil {
		return fmt.Errorf("msgr-server: %v", err)
	}
	m := osdCounts.FindStringSubmatch(p.Stderr())
	w, r := radosWrites.FindStringSubmatch(out), radosRemoved.FindStringSubmatch(out)
	if m == nil || w == nil || r == nil {
		return fmt.Errorf("counts missing: rados printed %q; server: %s", out, p.StderrTail())
	}
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	writes, removed := n(w[1]), n(r[1])
	got := [6]int{n(m[1]), n(m[2]), n(m[3]), n(m[4]), n(m[5]), n(m[6])}
	want := [6]int{writes + removed + 3, writes + 1, removed + 1, 0, 0, 0}
	if writes == 0 || got != want {
		return fmt.Errorf("rados made %d writes and removed %d objects; server counted replies, writes, deletes, other, dropped, malformed = %v, want %v", writes, removed, got, want)
	}
	t.Logf("%s: rados bench: %d writes of 4 MiB in 5 s; server replies %d", e.Name, writes, got[0])
	return nil
}
