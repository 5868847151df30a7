//go:build dpdk

package dpdkengine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/cli"
	"github.com/netmodels/netmodels/core/cli/msgrjson"
	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/supervise"
)

// childEnv makes the test binary run the shared CLI as a second (third)
// DPDK process: one EAL per process, so dpdk↔dpdk needs processes.
const childEnv = "NETMODELS_DPDK_CHILD"

// runChild runs the CLI with the arguments in NETMODELS_DPDK_CHILD_ARGS
// on the EAL/address options in the NETMODELS_DPDK_* variables.
func runChild(string) int {
	if os.Getenv(childEnv+"_NOLINKWAIT") != "" {
		// as bin/dpdk --memif=server: READY without waiting for a peer
		o, err := OptionsFromEnv()
		if err == nil {
			o.NoLinkWait = true
			err = Configure(o)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return cli.ExitUsage
		}
	}
	if os.Getenv(statsEnv) != "" {
		go reportLink()
	}
	os.Args = append([]string{"dpdk"}, strings.Fields(os.Getenv(childEnv+"_ARGS"))...)
	code := cli.Main(cli.Engine{Name: Name, LibVersion: LibVersion, New: func(cfg engine.Config) (engine.Engine, error) { return New(cfg) }})
	reportMu.Lock() // no report reads a port Teardown closes
	reportStop = true
	reportMu.Unlock()
	Teardown()
	return code
}

// reportLink prints the runtime's link state and counters to stderr every
// 10 ms once it runs (statsEnv, churn_dpdk_test.go).
func reportLink() {
	for seq := 0; ; seq++ {
		time.Sleep(10 * time.Millisecond)
		rtMu.Lock()
		r := rt
		rtMu.Unlock()
		reportMu.Lock()
		if reportStop {
			reportMu.Unlock()
			return
		}
		if r != nil {
			up := 0
			if r.port.LinkUp() {
				up = 1
			}
			st := r.ep.Stats()
			fmt.Fprintf(os.Stderr, "LINK seq=%d up=%d polls=%d rx=%d tx=%d\n", seq, up, st.Polls, st.RxFrames, st.TxFrames)
		}
		reportMu.Unlock()
	}
}

var (
	reportMu   sync.Mutex
	reportStop bool
)

func memifEAL(prefix, role, sock, lcore string) string {
	return fmt.Sprintf("--no-huge --no-pci -m 256 -l %s --no-shconf --no-telemetry --log-level=lib.eal:error --file-prefix=%s%d --vdev=net_memif0,role=%s,socket=%s,socket-abstract=no",
		lcore, prefix, os.Getpid(), role, sock)
}

// child is a second (third) DPDK process running the CLI with args, as
// core/supervise starts and stops it.
func child(name, eal, addr string, args ...string) supervise.Spec {
	return supervise.Spec{Name: name, Path: os.Args[0],
		Env: []string{childEnv + "=1", childEnv + "_ARGS=" + strings.Join(args, " "),
			"NETMODELS_DPDK_EAL=" + eal, "NETMODELS_DPDK_ADDR=" + addr, "NETMODELS_DPDK_GW="}}
}

func start(t *testing.T, s supervise.Spec) *supervise.Proc {
	t.Helper()
	p, err := supervise.Start(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	return p
}

// TestMemifMsgr: bin/dpdk's msgr-server and msgr-client (the shared CLI
// in two child processes) talk over net_memif, gVisor to gVisor with no
// kernel on the data path; the server stops cleanly on SIGTERM.
func TestMemifMsgr(t *testing.T) {
	supervise.NoLeaks(t)
	sock := filepath.Join(t.TempDir(), "memif.sock")
	// READY without waiting for a peer, as bin/dpdk --memif=server: the
	// client must connect only after the server's port started (READY),
	// not once its socket exists (EAL init): net_memif turns an early
	// client away ("ID not found") and its client never tries again.
	spec := child("memif msgr-server", memifEAL("nmms", "server", sock, "0"), "203.0.113.1/24", "msgr-server", "--listen=203.0.113.1:6800")
	spec.Env = append(spec.Env, childEnv+"_NOLINKWAIT=1")
	spec.ReadyWord, spec.ReadyTimeout = "READY", 30*time.Second
	srv := start(t, spec)
	t.Log("READY", srv.Ready)
	cli := start(t, child("memif msgr-client", memifEAL("nmmc", "client", sock, "1"), "203.0.113.2/24", "msgr-client", "--connect=203.0.113.1:6800", "--count=2000", "--size=4096", "--depth=8", "--timeout=30s"))
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if err := cli.Wait(ctx); err != nil {
		t.Fatalf("msgr-client: %v\n%s\nclient stderr:\n%s\nserver stderr:\n%s", err, cli.Stdout(), cli.Stderr(), srv.Stderr())
	}
	out := cli.Stdout()
	var res msgrjson.Summary
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &res); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	if res.Sent != 2000 || res.Received != 2000 || res.Errors != 0 {
		t.Fatalf("client result %+v", res)
	}
	t.Logf("memif msgr: %.0f msg/s, rtt p50 %.0f µs p99 %.0f µs", res.MsgsPerS, res.RTTUs.P50, res.RTTUs.P99)
	// SIGTERM: exit 0 within the contract's 5 s (supervise's default grace).
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
}
