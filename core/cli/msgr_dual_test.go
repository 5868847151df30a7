package cli

import (
	"context"
	"strings"
	"testing"
	"time"
)

// startServerReady runs msgr-server with exactly args and returns its
// READY addresses.
func startServerReady(t *testing.T, eng Engine, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errb := newSyncBuf(), newSyncBuf()
	env := &Env{Engine: eng, Stdout: out, Stderr: errb, Ctx: ctx}
	done := make(chan int, 1)
	go func() { done <- runMsgrServer(env, args) }()
	t.Cleanup(func() {
		cancel()
		if st := <-done; st != 0 {
			t.Errorf("server exit %d", st)
		}
	})
	deadline := time.After(10 * time.Second) // a bound on a hung start, not a timing assertion
	for !strings.Contains(out.String(), "\n") {
		select {
		case <-out.wrote:
		case st := <-done:
			t.Fatalf("server exited %d: %s", st, errb.String())
		case <-deadline:
			t.Fatal("no READY")
		}
	}
	f := strings.Fields(out.String())
	if len(f) < 2 || f[0] != "READY" {
		t.Fatalf("stdout %q", out.String())
	}
	return f[1:]
}

// --listen once per protocol: one server, READY lists the listeners in
// --listen order (msgr1 as HOST:PORT, msgr2 as v2:IP:PORT/NONCE) and the
// metrics address last; a v1 client and a v2 client are both served.
func TestMsgrServerDualListen(t *testing.T) {
	eng := memCLI(t)
	for _, order := range [][]string{
		{"--listen", "127.0.0.1:0", "--listen", "v2:127.0.0.1:0"},
		{"--listen", "v2:127.0.0.1:0", "--listen", "v1:127.0.0.1:0"},
	} {
		ready := startServerReady(t, eng, append(order, "--policy", "stateless_server", "--metrics", "127.0.0.1:0")...)
		if len(ready) != 3 {
			t.Fatalf("%v: READY %v, want two listeners and metrics", order, ready)
		}
		v1, v2 := ready[0], ready[1]
		if strings.HasPrefix(order[1], "v2:") {
			v1, v2 = v2, v1
		}
		if strings.HasPrefix(v1, "v") || !strings.HasPrefix(v2, "v2:127.0.0.1:") || !strings.Contains(v2, "/") {
			t.Fatalf("%v: READY %v, want HOST:PORT for v1 and v2:IP:PORT/NONCE in --listen order", order, ready)
		}
		lastMetrics = ready[2]
		for _, addr := range []string{v1, v2} {
			st, sum, errs := runClient(t, eng, "--connect", addr, "--policy", "lossy_client", "--count", "100", "--depth", "4", "--size", "0-5000")
			if st != 0 || sum.Received != 100 || sum.Errors != 0 {
				t.Fatalf("%s: exit %d %+v %s", addr, st, sum, errs)
			}
		}
		if got := metric(t, "msgr_accepted_connections_total"); got != 2 {
			t.Fatalf("%v: %v connections accepted, want the v1 client's and the v2 client's", order, got)
		}
	}
}

// What dual --listen refuses before READY: two listeners of one
// protocol, a prefix that contradicts an explicit --protocol, a bad
// address behind a prefix, --crc none (and whatever policy a v2-only
// server refuses: TestMsgrServerDualListenPolicies).
func TestMsgrServerDualListenUsage(t *testing.T) {
	eng := memCLI(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "127.0.0.1:0", "--listen", "v1:127.0.0.1:0"}, "one listener per protocol"},
		{[]string{"--listen", "v2:127.0.0.1:0", "--listen", "v2:127.0.0.1:0", "--policy", "stateless_server"}, "one listener per protocol"},
		{[]string{"--protocol", "v1", "--listen", "127.0.0.1:0", "--listen", "v2:127.0.0.1:0", "--policy", "stateless_server"}, "but --protocol is v1"},
		{[]string{"--listen", "127.0.0.1:0", "--listen", "v2:nohost:0", "--policy", "stateless_server"}, `--listen "v2:nohost:0"`},
		{[]string{"--listen", "127.0.0.1:0", "--listen", "v2:127.0.0.1:0", "--policy", "stateless_server", "--crc", "none"}, "--crc none is msgr1's"},
	} {
		errb := newSyncBuf()
		out := newSyncBuf()
		env := &Env{Engine: eng, Stdout: out, Stderr: errb, Ctx: context.Background()}
		if st := runMsgrServer(env, tc.args); st != ExitUsage || !strings.Contains(errb.String(), tc.want) || out.String() != "" {
			t.Errorf("server %v: exit %d, stderr %q, stdout %q; want 2 and %q", tc.args, st, errb.String(), out.String(), tc.want)
		}
	}
}

// A server with an msgr2 listener takes the policies a v2-only server
// takes and refuses the others with the same error, whatever msgr2
// supports (the context is cancelled, so a server that starts prints
// READY and exits 0 at once).
func TestMsgrServerDualListenPolicies(t *testing.T) {
	eng := memCLI(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	run := func(args ...string) (int, string) {
		errb := newSyncBuf()
		st := runMsgrServer(&Env{Engine: eng, Stdout: newSyncBuf(), Stderr: errb, Ctx: ctx}, args)
		return st, errb.String()
	}
	for _, pol := range []string{"stateful_server", "lossless_peer", "stateless_server"} {
		st2, err2 := run("--listen", "v2:127.0.0.1:0", "--policy", pol)
		st, errs := run("--listen", "127.0.0.1:0", "--listen", "v2:127.0.0.1:0", "--policy", pol)
		if st != st2 || (st == ExitUsage && errs != err2) {
			t.Errorf("--policy %s: dual exit %d %q, v2 only exit %d %q", pol, st, errs, st2, err2)
		}
	}
}
