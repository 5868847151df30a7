package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/netsim"
	"github.com/netmodels/netmodels/core/supervise"
)

func TestMain(m *testing.M) {
	if os.Getenv("NETSIM_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"down"}, {"up"}, {"up", "--profile", "netem"}, {"up", "--profile", "lan", "extra"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 || out.Len() != 0 || errb.Len() == 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out.String(), errb.String())
		}
	}
}

// TestUpAndDown: READY names both namespaces with their addresses; they
// exist while netsim runs and are gone once SIGTERM made it exit 0.
func TestUpAndDown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unsupported: " + netsim.ErrNeedRoot.Error())
	}
	supervise.NoLeaks(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, err := supervise.Start(supervise.Spec{Name: "netsim", Path: exe, Args: []string{"up", "--profile", "dc"},
		Env: []string{"NETSIM_MAIN=1"}, ReadyWord: "READY", ReadyTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Ready
	if len(r) != 6 || r[0] != "client" || r[2] != netsim.ClientIP.String() || r[3] != "server" || r[5] != netsim.ServerIP.String() {
		_ = p.Stop()
		t.Fatalf("READY fields %q", r)
	}
	// The link itself is proven in core/netsim's tests; here, that the
	// namespaces READY names exist with their addresses.
	for _, side := range [][]string{r[1:3], r[4:6]} {
		out, err := exec.Command("ip", "-n", side[0], "-o", "addr", "show", "dev", netsim.Iface).CombinedOutput()
		if err != nil || !strings.Contains(string(out), " "+side[1]+"/30 ") {
			t.Errorf("%s: %v: %s", side[0], err, out)
		}
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("stop: %v (%s)", err, p.Stderr())
	}
	list, _ := exec.Command("ip", "netns", "list").Output()
	for _, ns := range []string{r[1], r[4]} {
		if slices.Contains(strings.Fields(string(list)), ns) {
			t.Errorf("%s left after SIGTERM", ns)
		}
	}
	if !strings.Contains(p.Stderr(), "client→server") {
		t.Errorf("no counters on stderr: %s", p.Stderr())
	}
}
