package suite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/conformance/internal/harness"
	"github.com/netmodels/netmodels/core/peers"
)

const tableRados = "msgr: real librados client (row) × msgr-server --reply osd (column)"

// radosCluster is the one mon and OSD every engine's rados case uses in
// turn (an OSD takes seconds to join), per protocol: msgr1 only for
// interop-rados-bench, msgr1 and msgr2 for its variant @v2. The first
// case starts it and vacates the real OSD, so that each engine's fake OSD
// can take its OSD-map address and nonce; TestMain stops it.
type radosCluster struct {
	sync.Mutex // held by a case for its whole run: one stand-in at a time
	cl         *peers.OSDCluster
	err        error
	tried      bool
}

// radosClusters: [0] binds msgr1, [1] msgr1 and msgr2. A case holds one
// cluster's lock; two cases of either protocol never run at once anyway
// (Heavy).
var radosClusters [2]radosCluster

// radosSetup returns the case's cluster, started on first use, with the
// lock held. The msgr2 one's mon (and so its OSD, which reads the mon's
// ceph.conf) binds msgr2 too: the OSD map lists [v2:…,v1:…] for the OSD.
func radosSetup(t *harness.T) *peers.OSDCluster {
	t.Helper()
	c := &radosClusters[0]
	opts := peers.CephMonOptions{Addr: monAddr(t)}
	if t.V2() {
		c = &radosClusters[1]
		for opts.V2Addr = monAddr(t); opts.V2Addr == opts.Addr; opts.V2Addr = monAddr(t) {
		}
	}
	c.Lock()
	t.Cleanup(c.Unlock)
	if !c.tried {
		c.tried = true
		if c.cl, c.err = peers.StartOSDCluster(opts, peers.CephOSDOptions{}); c.err == nil {
			c.cl.Vacate()
		}
	}
	if c.err != nil {
		t.Fatalf("real peers (ceph-mon, ceph-osd): %v", c.err)
	}
	return c.cl
}

// stopRados ends the shared clusters (TestMain, after every case).
func stopRados() error {
	var errs []error
	for i := range radosClusters {
		c := &radosClusters[i]
		c.Lock()
		if c.cl != nil {
			errs = append(errs, c.cl.Stop())
		}
		c.Unlock()
	}
	return errors.Join(errs...)
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
			cell(t, v2Table(t, tableRados), "rados bench", e.Name, "interop-rados-bench", start, err)
			checkMon(t, cl.Mon)
		}})
}

func radosBench(t *harness.T, e harness.Engine, mon *peers.CephMon, osd *peers.CephOSD) error {
	listen := []string{"--listen", osd.Addr}
	// A lost reply fails the op after 30 s (librados waits forever by
	// default) instead of running into the command's bound.
	radosArgs := []string{"--rados-osd-op-timeout", "30"}
	var log string
	if t.V2() {
		// Both of the OSD's addresses, as the OSD itself listened: librados
		// (a messenger that binds nothing) dials the first entry of the
		// map's [v2:…,v1:…] it speaks, the v2 one (Ceph's
		// AsyncMessenger::create_connect); its debug_ms log shows which.
		listen = []string{"--listen", "v1:" + osd.Addr, "--listen", "v2:" + osd.V2Addr}
		log = filepath.Join(mon.Process.Dir, "log", "rados-"+e.Name+"-v2.log")
		radosArgs = append(radosArgs, "--log-file", log, "--debug-ms", "1")
	}
	p := harness.Start(t, e, append(append([]string{"msgr-server"}, listen...), "--reply", "osd", "--nonce", strconv.FormatUint(uint64(osd.Nonce), 10))...)
	out, err := mon.Rados(90*time.Second, append(radosArgs, "bench", "-p", osd.Pool, "5", "write", "-t", "16")...)
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
	how := "msgr1"
	if log != "" {
		if err := radosUsedV2(log, osd, got[0]); err != nil {
			return err
		}
		how = "msgr2 (each reply on rados' msgr2 session, its debug_ms log says)"
	}
	t.Logf("%s: rados bench over %s: %d writes of 4 MiB in 5 s; server replies %d", e.Name, how, writes, got[0])
	return nil
}

// radosReplyFrom is a reply line of rados' debug_ms 1 log: the message
// and the peer address of the session it came on.
var radosReplyFrom = regexp.MustCompile(`(?m)<== osd\.\d+ (\S+) \d+ ==== osd_op_reply\(`)

// radosUsedV2 reads rados' debug_ms 1 log for proof that it talked msgr2
// to the fake OSD: a ProtocolV2 session ("--2-") to the OSD reached READY,
// and each of the replies our server counted arrived from the OSD's v2
// address (over msgr1 the same line names the v1 one; ProtocolV1 itself
// logs nothing at level 1).
func radosUsedV2(log string, osd *peers.CephOSD, replies int) error {
	b, err := os.ReadFile(log)
	if err != nil {
		return fmt.Errorf("rados log: %w", err)
	}
	v2 := "v2:" + osd.V2Addr + "/" + strconv.FormatUint(uint64(osd.Nonce), 10)
	ready, fromV2, other := 0, 0, 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, " --2- ") && strings.Contains(line, ").ready entity=osd.") {
			ready++
		}
	}
	for _, m := range radosReplyFrom.FindAllStringSubmatch(string(b), -1) {
		if m[1] == v2 {
			fromV2++
		} else {
			other++
		}
	}
	if ready == 0 || fromV2 != replies || other != 0 {
		return fmt.Errorf("rados log %s: %d msgr2 sessions to the OSD ready, %d replies from %s, %d from elsewhere; want at least 1, %d (the server's count), 0", log, ready, fromV2, v2, other, replies)
	}
	return nil
}

// TestRadosUsedV2 checks radosUsedV2 on lines of real rados 16.2.15
// debug_ms 1 logs: a msgr2 run passes, and one reply over msgr1 (the line
// a v1 run logs), a missing reply or no msgr2 session to the OSD fails.
func TestRadosUsedV2(t *testing.T) {
	const (
		ready  = "2026-12-07T00:38:23.681+0000 7f03f7fff6c0  1 --2- 198.51.100.1:0/1046223290 >> [v2:198.51.100.1:6800/14869,v1:198.51.100.1:6801/14869] conn(0x55937e334e80 0x55937e3372f0 crc :-1 s=READY pgs=1 cs=0 l=1 rev1=1 rx=0 tx=0).ready entity=osd.0 client_cookie=0 server_cookie=0 in_seq=0 out_seq=0\n"
		fromV2 = "2026-12-07T00:38:23.697+0000 7f03f7fff6c0  1 -- 198.51.100.1:0/1046223290 <== osd.0 v2:198.51.100.1:6800/14869 1 ==== osd_op_reply(1 benchmark_data_vm_15713_object0 [set-alloc-hint object_size 4194304 write_size 4194304,write 0~4194304] v0'0 uv0 ondisk = 0) v8 ==== 217+0+0 (crc 0 0 0) 0x7f03f0005ce0 con 0x55937e334e80\n"
		fromV1 = "2026-12-07T00:40:49.881+0000 7efcd3c446c0  1 -- 198.51.100.1:0/1469354096 <== osd.0 v1:198.51.100.1:6801/14869 1 ==== osd_op_reply(1 benchmark_data_vm_25475_object0 [set-alloc-hint object_size 4194304 write_size 4194304,write 0~4194304] v0'0 uv0 ondisk = 0) v8 ==== 217+0+0 (unknown 3762223391 0 0) 0x7efcc8001340 con 0x558b5f39abb0\n"
	)
	osd := &peers.CephOSD{Addr: "198.51.100.1:6801", V2Addr: "198.51.100.1:6800", Nonce: 14869}
	for _, c := range []struct {
		log     string
		replies int
		ok      bool
	}{
		{ready + fromV2 + fromV2, 2, true},
		{ready + fromV2 + fromV1, 2, false},
		{ready + fromV2, 2, false},
		{fromV2 + fromV2, 2, false},
	} {
		path := filepath.Join(t.TempDir(), "rados.log")
		if err := os.WriteFile(path, []byte(c.log), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := radosUsedV2(path, osd, c.replies); (err == nil) != c.ok {
			t.Errorf("log %q, %d replies: err %v, want ok %v", c.log, c.replies, err, c.ok)
		}
	}
}
