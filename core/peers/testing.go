package peers

import (
	"testing"
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
