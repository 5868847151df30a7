//go:build dpdk

package dpdkengine

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/supervise"
	"github.com/netmodels/netmodels/impl-dpdk/internal/rte"
)

// The memif churn stress test (issue 18, "the crash first").
//
// net_memif's control channel runs on EAL's interrupt thread: when the
// peer goes away (exit, SIGKILL, port stop) that thread runs
// memif_disconnect, which munmaps the shared-memory regions and frees
// their descriptors, and on a new peer memif_connect maps fresh ones. The
// PMD's rx/tx bursts check a "connected" flag once and then read the rings
// and buffers with no lock, so a burst on the poll thread (or a tx burst on
// a gVisor goroutine) that overlaps a disconnect reads unmapped memory:
// bin/dpdk msgr-server died with SIGSEGV inside rte_eth_rx_burst when the
// bench's msgr-client of a repetition ended. rte.go's gate keeps the
// interrupt thread's handlers and every burst apart.
//
// TestMemifPeerChurn reproduces that class: one memif server process with
// traffic from a client process that is started, SIGKILLed or stopped with
// SIGTERM while messages flow, many times, and every few cycles the server
// itself SIGKILLed under a flowing client (the client unmaps its own regions
// then). Both pollers spin (--poll=spin), so a poll is in progress whenever
// the interrupt thread handles the disconnect. After each cycle the
// survivor must have seen its link go down (the disconnect was handled)
// and still be running. NETMODELS_MEMIF_CHURN_CYCLES sets the number of
// cycles (default 12, a few seconds; the soak run uses hundreds).

// statsEnv makes a child (runChild) print its link state and counters to
// stderr every few milliseconds: "LINK seq=N up=1 polls=N rx=N tx=N" (seq counts
// the reports, so a reader of a bounded stderr tail sees time pass).
const statsEnv = "NETMODELS_DPDK_CHILD_STATS"

// churnCycles is the number of client lifetimes TestMemifPeerChurn runs.
func churnCycles(t *testing.T) int {
	if v := os.Getenv("NETMODELS_MEMIF_CHURN_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("NETMODELS_MEMIF_CHURN_CYCLES=%q: want a positive number", v)
		}
		return n
	}
	return 12
}

// linkLine is a child's last "LINK" report.
type linkLine struct {
	ok                 bool
	up                 bool
	seq, polls, rx, tx uint64
}

func lastLink(p *supervise.Proc) linkLine {
	s := p.Stderr()
	i := strings.LastIndex(s, "LINK seq=")
	if i < 0 {
		return linkLine{}
	}
	line, _, complete := strings.Cut(s[i:], "\n")
	if !complete {
		// a line still being written: take the one before
		if j := strings.LastIndex(s[:i], "LINK seq="); j >= 0 {
			line, _, _ = strings.Cut(s[j:], "\n")
		} else {
			return linkLine{}
		}
	}
	var l linkLine
	var up int
	if n, _ := fmt.Sscanf(line, "LINK seq=%d up=%d polls=%d rx=%d tx=%d", &l.seq, &up, &l.polls, &l.rx, &l.tx); n != 5 {
		return linkLine{}
	}
	l.ok, l.up = true, up == 1
	return l
}

// churnChild is a memif process of the churn test: the CLI with args,
// spinning poller, link reports on; pinned to the lcore's CPU when pin
// (the survivor of the cycle).
func churnChild(name, role, sock, prefix, lcore, addr string, pin bool, args ...string) supervise.Spec {
	eal := fmt.Sprintf("--no-huge --no-pci -m 256 -l %s --no-shconf --no-telemetry --log-level=lib.eal:error --file-prefix=%s %s --vdev=net_memif0,role=%s,socket=%s,socket-abstract=no",
		lcore, prefix, os.Getenv("NETMODELS_MEMIF_CHURN_EAL"), role, sock) // the variable: more EAL arguments, e.g. a log level
	s := child(name, eal, addr, args...)
	if cpu, _ := strconv.Atoi(lcore); pin && cpu < runtime.NumCPU() {
		// One CPU for the whole process, as in the bench's pinned
		// scenarios: the interrupt thread handles the disconnect only by
		// preempting the poller, often in the middle of a burst. That is
		// when the bench crashed; unpinned, the race is much rarer.
		s.CPUs = []int{cpu}
	}
	s.Env = append(s.Env, statsEnv+"=1", "NETMODELS_DPDK_POLL=spin")
	s.Capture = 256 << 10
	return s
}

// crashReport is what a dead child left: its exit status and the start and
// end of its stderr (a Go crash dump starts with the signal).
func crashReport(p *supervise.Proc) string {
	return fmt.Sprintf("%s (pid %d) exited: %v\nstderr:\n%s", p.Name, p.PID(), p.ExitErr(), p.Stderr())
}

// hangReport is where a live child's threads are (kernel wait channel and
// user PC of each) and, after SIGQUIT, the Go runtime's goroutine dump.
func hangReport(p *supervise.Proc) string {
	var b strings.Builder
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", p.PID()))
	for _, task := range tasks {
		comm, _ := os.ReadFile(task + "/comm")
		wchan, _ := os.ReadFile(task + "/wchan")
		sc, _ := os.ReadFile(task + "/syscall")
		fmt.Fprintf(&b, "thread %s %q wchan=%s syscall=%s\n", filepath.Base(task), strings.TrimSpace(string(comm)), wchan, strings.TrimSpace(string(sc)))
	}
	if !p.Exited() {
		_ = syscall.Kill(p.PID(), syscall.SIGQUIT)
		select {
		case <-p.Done():
		case <-time.After(5 * time.Second):
		}
	}
	return b.String() + crashReport(p)
}

func TestMemifPeerChurn(t *testing.T) {
	supervise.NoLeaks(t)
	cycles := churnCycles(t)
	dir := t.TempDir()
	const (
		srvAddr = "203.0.113.1/24"
		cliAddr = "203.0.113.2/24"
	)
	var srv *supervise.Proc
	var sock string
	incarnation := 0
	startServer := func() {
		incarnation++
		sock = filepath.Join(dir, fmt.Sprintf("memif%d.sock", incarnation))
		spec := churnChild("memif msgr-server", "server", sock, fmt.Sprintf("nmcs%d-%d", os.Getpid(), incarnation), "0", srvAddr, true,
			"msgr-server", "--listen=203.0.113.1:6800")
		// READY without a peer, as bin/dpdk --memif=server: only then is
		// the port started. The socket exists from EAL init on, but a
		// client that connects before the start is turned away ("ID not
		// found") and net_memif's client never tries again.
		spec.Env = append(spec.Env, childEnv+"_NOLINKWAIT=1")
		spec.ReadyWord, spec.ReadyTimeout = "READY", 30*time.Second
		srv = start(t, spec)
	}
	startServer()
	// Every wait below is bounded; this bounds the whole (a cycle takes
	// about 1 s on an idle 2-CPU machine). A pinned survivor starves when
	// its CPU is busy with other work, so the durations are reported.
	deadline := time.Now().Add(time.Duration(cycles) * 20 * time.Second)
	var took []string
	for i := 0; i < cycles; i++ {
		began := time.Now()
		if began.After(deadline) {
			t.Fatalf("cycle %d: out of time; cycles took %s", i, strings.Join(took, " "))
		}
		cli := start(t, churnChild("memif msgr-client", "client", sock, fmt.Sprintf("nmcc%d-%d", os.Getpid(), i), "1", cliAddr, i%4 == 3,
			"msgr-client", "--connect=203.0.113.1:6800", "--duration=10m", "--timeout=10m", "--size=1024", "--depth=16"))
		// Traffic flows: both processes have received frames since the
		// client started, and the server keeps receiving.
		before := lastLink(srv)
		flowing := func() (bool, error) {
			if srv.Exited() {
				return false, fmt.Errorf("%s", crashReport(srv))
			}
			s, c := lastLink(srv), lastLink(cli)
			return s.ok && c.ok && s.up && c.up && s.rx >= before.rx+200 && c.rx >= 200, nil
		}
		if err := cli.WaitFor("traffic over memif", 30*time.Second, flowing); err != nil {
			t.Fatalf("cycle %d: %v\nclient: %s\nserver: %s", i, err, hangReport(cli), hangReport(srv))
		}
		victim, survivor := cli, srv
		how := "SIGKILL"
		switch {
		case i%4 == 3:
			// The server dies under a flowing client: the client's own
			// regions are unmapped by its interrupt thread.
			victim, survivor = srv, cli
		case i%4 == 2:
			how = "SIGTERM"
		}
		if how == "SIGKILL" {
			victim.Kill()
		} else {
			_ = victim.Stop() // msgr-client's exit status after SIGTERM does not matter here
		}
		<-victim.Done()
		// The survivor handled the disconnect (its link is down) and lives.
		down := func() (bool, error) {
			l := lastLink(survivor)
			return l.ok && !l.up, nil
		}
		if err := survivor.WaitFor("link down after the peer's "+how, 20*time.Second, down); err != nil {
			t.Fatalf("cycle %d: peer %s by %s: %v\n%s", i, victim.Name, how, err, crashReport(survivor))
		}
		// The poller goes on polling the disconnected port.
		polls := lastLink(survivor).polls
		if err := survivor.WaitFor("polling after the disconnect", 20*time.Second, func() (bool, error) {
			return lastLink(survivor).polls >= polls+10000, nil
		}); err != nil {
			t.Fatalf("cycle %d: peer %s by %s: %v\n%s", i, victim.Name, how, err, crashReport(survivor))
		}
		if victim == srv {
			cli.Kill()
			<-cli.Done()
			startServer()
		}
		took = append(took, time.Since(began).Round(time.Millisecond).String())
	}
	t.Logf("cycles took %s", strings.Join(took, " "))
	// SIGTERM: the server exits 0 within the contract's 5 s, stale
	// connections from killed clients or not. If it does not, SIGQUIT
	// makes the Go runtime print every goroutine: where it hangs.
	_ = syscall.Kill(srv.PID(), syscall.SIGTERM)
	select {
	case <-srv.Done():
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(srv.PID(), syscall.SIGQUIT)
		<-srv.Done()
		t.Fatalf("server still running 5 s after SIGTERM\n%s", crashReport(srv))
	}
	if err := srv.ExitErr(); err != nil {
		t.Fatalf("server after SIGTERM: %s", crashReport(srv))
	}
}

// TestGateInUse: EAL's interrupt thread goes through rte's epoll_wait
// (internal/rte/gate.c), the fix TestMemifPeerChurn checks; without it a
// link change (say, -Wl,--as-needed dropping the export) would silently
// bring the crash back.
func TestGateInUse(t *testing.T) {
	deadline := time.Now().Add(5 * time.Second)
	for !rte.GateInUse() {
		if time.Now().After(deadline) {
			t.Fatal("EAL's interrupt thread never called rte's epoll_wait: the gate between bursts and memif's control channel is not in effect")
		}
		time.Sleep(time.Millisecond)
	}
}
