//go:build dpdk

package dpdkengine

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/cli"
	"github.com/netmodels/netmodels/core/cli/msgrjson"
	"github.com/netmodels/netmodels/core/engine"
)

// childEnv makes the test binary run the shared CLI as a second (third)
// DPDK process: one EAL per process, so dpdk↔dpdk needs processes.
const childEnv = "NETMODELS_DPDK_CHILD"

// runChild runs the CLI with the arguments in NETMODELS_DPDK_CHILD_ARGS
// on the EAL/address options in the NETMODELS_DPDK_* variables.
func runChild(string) int {
	os.Args = append([]string{"dpdk"}, strings.Fields(os.Getenv(childEnv+"_ARGS"))...)
	code := cli.Main(cli.Engine{Name: Name, LibVersion: LibVersion, New: func(cfg engine.Config) (engine.Engine, error) { return New(cfg) }})
	Teardown()
	return code
}

func memifEAL(prefix, role, sock, lcore string) string {
	return fmt.Sprintf("--no-huge --no-pci -m 256 -l %s --no-shconf --no-telemetry --log-level=lib.eal:error --file-prefix=%s%d --vdev=net_memif0,role=%s,socket=%s,socket-abstract=no",
		lcore, prefix, os.Getpid(), role, sock)
}

func child(t *testing.T, eal, addr string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1", childEnv+"_ARGS="+strings.Join(args, " "),
		"NETMODELS_DPDK_EAL="+eal, "NETMODELS_DPDK_ADDR="+addr, "NETMODELS_DPDK_GW=")
	return cmd
}

// TestMemifMsgr: bin/dpdk's msgr-server and msgr-client (the shared CLI
// in two child processes) talk over net_memif, gVisor to gVisor with no
// kernel on the data path; the server stops cleanly on SIGTERM.
func TestMemifMsgr(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "memif.sock")
	srv := child(t, memifEAL("nmms", "server", sock, "0"), "203.0.113.1/24", "msgr-server", "--listen=203.0.113.1:6800")
	out, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var srvErr strings.Builder
	srv.Stderr = &srvErr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill() })
	// The client's memif probe wants the server's socket: wait for it.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("memif socket %s not created: %s", sock, srvErr.String())
		}
	}
	cli := child(t, memifEAL("nmmc", "client", sock, "1"), "203.0.113.2/24", "msgr-client", "--connect=203.0.113.1:6800", "--count=2000", "--size=4096", "--depth=8", "--timeout=30s")
	var cliOut, cliErr strings.Builder
	cli.Stdout, cli.Stderr = &cliOut, &cliErr
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Process.Kill() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "READY ") {
				ready <- sc.Text()
			}
		}
	}()
	select {
	case line := <-ready:
		t.Log(line)
	case <-time.After(30 * time.Second):
		t.Fatalf("server not READY: %s", srvErr.String())
	}
	done := make(chan error, 1)
	go func() { done <- cli.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("msgr-client: %v\n%s\nclient stderr:\n%s\nserver stderr:\n%s", err, cliOut.String(), cliErr.String(), srvErr.String())
		}
	case <-time.After(45 * time.Second):
		t.Fatalf("msgr-client did not finish:\n%s", cliErr.String())
	}
	var res msgrjson.Summary
	if err := json.Unmarshal([]byte(strings.TrimSpace(cliOut.String())), &res); err != nil {
		t.Fatalf("client output %q: %v", cliOut.String(), err)
	}
	if res.Sent != 2000 || res.Received != 2000 || res.Errors != 0 {
		t.Fatalf("client result %+v", res)
	}
	t.Logf("memif msgr: %.0f msg/s, rtt p50 %.0f µs p99 %.0f µs", res.MsgsPerS, res.RTTUs.P50, res.RTTUs.P99)
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	werr := make(chan error, 1)
	go func() { werr <- srv.Wait() }()
	select {
	case err := <-werr:
		if err != nil {
			t.Fatalf("msgr-server after SIGTERM: %v\n%s", err, srvErr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("msgr-server did not exit within 5 s of SIGTERM")
	}
}
