package peers

import (
	"fmt"
	"testing"
	"time"
)

// Thin wrappers for tests. The peer's files go to t.TempDir() unless the
// options name a Dir; the peer is stopped in t.Cleanup, and the test fails
// if it died on its own (or, for ceph-mon, left a crash report) — a peer
// crash caused by our bytes is a bug to hear about, not noise.

// StartHAProxyT is StartHAProxy for tests.
func StartHAProxyT(t testing.TB, cfg string, opts HAProxyOptions) *Process {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	p, err := StartHAProxy(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// StartCephMonT is StartCephMon for tests.
func StartCephMonT(t testing.TB, opts CephMonOptions) *CephMon {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	m, err := StartCephMon(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Stop(); err != nil {
			t.Error(err)
		}
	})
	return m
}

// CephMonAuthReadyLine is what a fresh ceph-mon logs (debug_mon 10) once
// it can assign a global_id. Quorum is not enough: until the auth service
// has committed (version 1) the mon answers AUTH_REQUEST with EBUSY
// ("haven't formed initial quorum"), and version 1 holds the mkfs
// max_global_id, all allocated, so it proposes more and fails ("failed to
// assign global_id") until version 2 is active. Either way it closes the
// connection, as Ceph's v2 auth has no "wait" answer.
const CephMonAuthReadyLine = "auth v2 AuthMonitor::on_active()"

// StartCephMonV2T starts a ceph-mon listening on msgr1 and msgr2 (free
// loopback ports; V2Addr is the v2 one) that logs why it drops a frame
// (debug_ms 1), and returns once it can authenticate a client
// (CephMonAuthReadyLine). The test fails, never skips, when ceph-mon is
// missing: `make deps` installs it, and a skipped interop test must not
// pass a run. The mon's log tail is logged if the test fails.
func StartCephMonV2T(t testing.TB) *CephMon {
	t.Helper()
	return StartCephMonV2HostT(t, "127.0.0.1")
}

// StartCephMonV2HostT is StartCephMonV2T on host, a loopback address or,
// inside a private network namespace, a documentation address a
// userspace stack reaches (msgrtest.MonHost).
func StartCephMonV2HostT(t testing.TB, host string) *CephMon {
	t.Helper()
	if _, err := CephMonBinary(); err != nil {
		t.Fatalf("%v (install it with `make deps` as root)", err)
	}
	ports, err := FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	mon := StartCephMonT(t, CephMonOptions{
		Addr:      fmt.Sprintf("%s:%d", host, ports[0]),
		V2Addr:    fmt.Sprintf("%s:%d", host, ports[1]),
		ExtraConf: map[string]string{"debug_ms": "1", "debug_mon": "10"},
	})
	if err := mon.WaitLog(CephMonAuthReadyLine, 1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ceph-mon log:\n%s", mon.LogTail(30))
		}
	})
	return mon
}

// FreePortT is FreePort for tests.
func FreePortT(t testing.TB) int {
	t.Helper()
	p, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// StartRedisT is StartRedis for tests: files in t.TempDir(), stopped in
// t.Cleanup, and the test fails if it died on its own.
func StartRedisT(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	r, err := StartRedis(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Error(err)
		}
	})
	return r
}
