package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/core/promscrape"
)

// metric reads one series from the last server's /metrics (-1: absent).
func metric(t *testing.T, series string) float64 {
	t.Helper()
	samples, err := promscrape.Get(context.Background(), "http://"+lastMetrics+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := promscrape.Values(samples)[series]; ok {
		return v
	}
	return -1
}

// startV2Server is startServer with --protocol v2 and a lossy policy; the
// READY address is msgr2's text form, nonce included.
func startV2Server(t *testing.T, eng Engine, args ...string) (string, *syncBuf) {
	t.Helper()
	addr, errb := startServer(t, eng, append([]string{"--protocol", "v2", "--policy", "stateless_server"}, args...)...)
	if !strings.HasPrefix(addr, "v2:127.0.0.1:") || !strings.Contains(addr, "/") {
		t.Fatalf("READY address %q, want v2:127.0.0.1:PORT/NONCE", addr)
	}
	return addr, errb
}

// --protocol v2: the echo over msgr2.1 crc mode, the READY address as
// --connect (a v2: address selects v2), and HOST:PORT/NONCE with
// --protocol v2; replies checked as over msgr1.
func TestMsgrV2Echo(t *testing.T) {
	eng := memCLI(t)
	addr, _ := startV2Server(t, eng)
	st, sum, errs := runClient(t, eng, "--connect", addr, "--policy", "lossy_client",
		"--count", "300", "--depth", "4", "--conns", "2", "--size", "0-70000")
	if st != 0 || sum.Sent != 300 || sum.Received != 300 || sum.Errors != 0 {
		t.Fatalf("exit %d %+v %s", st, sum, errs)
	}
	st, sum, errs = runClient(t, eng, "--protocol", "v2", "--connect", strings.TrimPrefix(addr, "v2:"),
		"--policy", "lossy_client", "--count", "50", "--size", "100")
	if st != 0 || sum.Received != 50 {
		t.Fatalf("--protocol v2 HOST:PORT/NONCE: exit %d %+v %s", st, sum, errs)
	}
	// The nonce is checked, as a Ceph server does: the wrong one is refused.
	st, _, errs = runClient(t, eng, "--protocol", "v2", "--connect", strings.Split(strings.TrimPrefix(addr, "v2:"), "/")[0]+"/1",
		"--policy", "lossy_client", "--count", "1", "--timeout", "5s")
	if st != 1 || !strings.Contains(errs, "failed") {
		t.Fatalf("wrong nonce: exit %d %s", st, errs)
	}
	t.Log(errs)
}

// --protocol v2 with a slow dispatcher: the echo runs on the dispatch
// goroutine and the policy byte throttle bounds what is held, read from
// /metrics, as over msgr1 (TestMsgrSlowDispatcherThrottle).
func TestMsgrV2SlowDispatcherThrottle(t *testing.T) {
	eng := memCLI(t)
	addr, _ := startV2Server(t, eng, "--dispatch-delay", "1ms", "--throttle-bytes", "20000", "--metrics", "127.0.0.1:0")
	st, sum, errs := runClient(t, eng, "--connect", addr, "--policy", "lossy_client", "--count", "200", "--depth", "32", "--size", "3000")
	if st != 0 || sum.Received != 200 {
		t.Fatalf("exit %d %+v %s", st, sum, errs)
	}
	peak, waits := metric(t, `msgr_throttle_peak{throttle="policy_bytes_client"}`), metric(t, `msgr_throttle_waits_total{throttle="policy_bytes_client"}`)
	if peak <= 0 || peak > 20000+3000 || waits <= 0 {
		t.Fatalf("peak %v waits %v", peak, waits)
	}
}

// --count 0 over v2: the handshake probe (open, one KEEPALIVE2 round trip),
// as run against a real ceph-mon: a server named mon.0 announces nonce 0.
func TestMsgrV2HandshakeOnly(t *testing.T) {
	eng := memCLI(t)
	addr, _ := startV2Server(t, eng, "--name", "mon.0")
	if !strings.HasSuffix(addr, "/0") {
		t.Fatalf("mon.0 at %s, want nonce 0", addr)
	}
	st, sum, errs := runClient(t, eng, "--protocol", "v2", "--connect", strings.TrimSuffix(strings.TrimPrefix(addr, "v2:"), "/0"),
		"--count", "0", "--peer-type", "mon", "--policy", "lossy_client", "--conns", "3")
	if st != 0 || sum.Sent != 0 || sum.Conns != 3 {
		t.Fatalf("exit %d %+v %s", st, sum, errs)
	}
}

// What --protocol v2 refuses, before READY (exit 2), saying why:
// --crc none, a v2 address with --protocol v1, a bad nonce, an unknown
// protocol.
func TestMsgrV2UsageErrors(t *testing.T) {
	eng := memCLI(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--connect", "v2:127.0.0.1:1/5", "--count", "1", "--policy", "lossy_client", "--crc", "none"}, "--crc none is msgr1's"},
		{[]string{"--connect", "v2:127.0.0.1:1/5", "--count", "1", "--policy", "lossy_client", "--protocol", "v1"}, "is an msgr2 address"},
		{[]string{"--connect", "v2:127.0.0.1:1/x", "--count", "1", "--policy", "lossy_client"}, "nonce"},
		{[]string{"--protocol", "v3", "--connect", "127.0.0.1:1", "--count", "1"}, "want v1 or v2"},
	} {
		st, _, errs := runClient(t, eng, tc.args...)
		if st != ExitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, st, errs, tc.want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "127.0.0.1:0", "--protocol", "v2", "--policy", "stateless_server", "--crc", "none"}, "--crc none is msgr1's"},
	} {
		errb := newSyncBuf()
		env := &Env{Engine: eng, Stdout: newSyncBuf(), Stderr: errb, Ctx: context.Background()}
		if st := runMsgrServer(env, tc.args); st != ExitUsage || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("server %v: exit %d, %q; want 2 and %q", tc.args, st, errb.String(), tc.want)
		}
	}
}

// Lossless over v2 with the default policies (stateful_server,
// lossless_client) and injected socket failures on both sides: every
// reply arrives exactly once and in order (the client counts a
// duplicate or out-of-order reply as an error), as over msgr1
// (TestMsgrInjectedFailuresBothSides).
func TestMsgrV2LosslessInjectedBothSides(t *testing.T) {
	eng := memCLI(t)
	fast := []string{"--initial-backoff", "1ms", "--max-backoff", "20ms"}
	addr, _ := startServer(t, eng, append([]string{"--protocol", "v2", "--inject-socket-failures", "30"}, fast...)...)
	args := append([]string{"--connect", addr, "--count", "2000", "--depth", "8", "--size", "0-4000",
		"--inject-socket-failures", "30"}, fast...)
	st, sum, errs := runClient(t, eng, args...)
	if st != 0 || sum.Received != 2000 || sum.Errors != 0 {
		t.Fatalf("exit %d %+v %s", st, sum, errs)
	}
}
