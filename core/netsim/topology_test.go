package netsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/supervise"
)

// The test binary doubles as the processes started inside the
// namespaces: NETSIM_CHILD names what it runs instead of the tests.
const childEnv = "NETSIM_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "echo" {
		os.Exit(echoServer(os.Args[1]))
	}
	os.Exit(m.Run())
}

// echoServer echoes every connection to addr until SIGTERM.
func echoServer(addr string) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	<-term
	return 0
}

// needRoot: the topology needs root; elsewhere the test says so and is
// reported SKIP with that reason, never PASS.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("unsupported: " + ErrNeedRoot.Error())
	}
}

// up builds a topology that the test's cleanup closes, then checks that
// nothing of it is left.
func up(t testing.TB, p Profile) *Topology {
	t.Helper()
	needRoot(t)
	topo, err := New(p, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := topo.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		for _, ns := range []string{topo.Client.Netns, topo.Server.Netns} {
			if slices.Contains(netnsList(t), ns) {
				t.Errorf("namespace %s left after Close", ns)
			}
		}
	})
	return topo
}

func netnsList(t testing.TB) []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

// startEcho starts the echo child on side at port and waits until it
// listens (read from the child's namespace by supervise).
func startEcho(t testing.TB, s *Side, port int) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(s.Addr.String(), fmt.Sprint(port))
	p, err := s.Start(supervise.Spec{Name: "echo", Path: exe, Args: []string{addr}, Env: []string{childEnv + "=echo"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitListening(10*time.Second, addr); err != nil {
		t.Fatal(err)
	}
	return addr
}

// echo sends n random bytes through the echo at addr from side and
// checks that the same n bytes come back, in order.
func echo(t testing.TB, from *Side, addr string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := from.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	want := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(n)})
	_, _ = r.Read(want)
	werr := make(chan error, 1)
	go func() { _, err := c.Write(want); werr <- err }()
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the echo differs from what was sent")
	}
}

// TestProfilesEcho: under every profile, 1 MiB each way crosses the link
// intact (TCP repairs loss, duplicates and reordering); the emulator's
// counters show that bad's loss and duplicates did happen.
func TestProfilesEcho(t *testing.T) {
	needRoot(t)
	for _, name := range ProfileNames() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, _ := ParseProfile(name)
			topo := up(t, p)
			addr := startEcho(t, topo.Server, 7000)
			echo(t, topo.Client, addr, 1<<20)
			cs, sc := topo.Counters()
			t.Logf("%v: client→server %+v, server→client %+v", p, cs, sc)
			switch {
			case p.Direct && (cs != Counters{} || sc != Counters{}):
				t.Errorf("a veth link counted frames")
			case !p.Direct && (cs.Forwarded == 0 || sc.Forwarded == 0):
				t.Errorf("nothing forwarded")
			case name == "bad" && (cs.Lost+sc.Lost == 0 || cs.Duplicated+sc.Duplicated == 0):
				t.Errorf("bad lost or duplicated nothing")
			}
			if name == "lan" {
				// Processes start on either side: the server reaches a
				// client-side echo too.
				echo(t, topo.Server, startEcho(t, topo.Client, 7001), 64<<10)
			}
		})
	}
}

// rtts measures n round trips of one byte from side to the echo at addr.
func rtts(t testing.TB, from *Side, addr string, n int) []time.Duration {
	t.Helper()
	c, err := from.Dial(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	b := []byte{1}
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		out = append(out, time.Since(start))
	}
	slices.Sort(out)
	return out
}

// TestDCRoundTrip: dc delays each way by 100 µs, so no round trip is
// shorter than 200 µs. Only the lower bound is checked: an upper bound
// would flake on a loaded machine (the figures are in BenchmarkRTT).
func TestDCRoundTrip(t *testing.T) {
	p, _ := ParseProfile("dc")
	topo := up(t, p)
	addr := startEcho(t, topo.Server, 7000)
	r := rtts(t, topo.Client, addr, 200)
	t.Logf("dc round trip: min %v, median %v", r[0], r[len(r)/2])
	if r[0] < 200*time.Microsecond {
		t.Errorf("round trip %v under dc, shorter than twice the 100 µs delay", r[0])
	}
}

// TestSweepStale: namespaces left by a process that died before Close are
// deleted by the next New; a live process's and foreign ones are kept.
func TestSweepStale(t *testing.T) {
	needRoot(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("%s%d-1-client", NetnsPrefix, dead.Process.Pid)
	live := fmt.Sprintf("%s%d-999-client", NetnsPrefix, os.Getppid())
	foreign := fmt.Sprintf("nsimx-%d", dead.Process.Pid)
	for _, ns := range []string{stale, live, foreign} {
		if err := run("ip", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if slices.Contains(netnsList(t), ns) {
				_ = run("ip", "netns", "del", ns)
			}
		})
	}
	p, _ := ParseProfile("lan")
	up(t, p)
	names := netnsList(t)
	if slices.Contains(names, stale) {
		t.Errorf("stale %s kept", stale)
	}
	if !slices.Contains(names, live) || !slices.Contains(names, foreign) {
		t.Errorf("deleted a namespace not stale or not ours: %v", names)
	}
}

// TestNewFailsClean: a topology that fails half-way leaves nothing.
func TestNewFailsClean(t *testing.T) {
	needRoot(t)
	before := netnsList(t)
	if _, err := New(Profile{Name: "bad-jitter", Delay: 1, Jitter: 2}, 1); err == nil {
		t.Fatal("an invalid profile was built")
	}
	// The server namespace's name is taken: New fails after making the
	// client's, and must delete it.
	next := fmt.Sprintf("%s%d-%d-server", NetnsPrefix, os.Getpid(), instances.Load()+1)
	if err := run("ip", "netns", "add", next); err != nil {
		t.Fatal(err)
	}
	defer run("ip", "netns", "del", next)
	_, err := New(Profile{Name: "lan", Direct: true}, 1)
	if err == nil {
		t.Fatal("New succeeded on a taken name")
	}
	after := slices.DeleteFunc(netnsList(t), func(n string) bool { return n == next })
	if !slices.Equal(before, after) {
		t.Errorf("namespaces before %v, after a failed New %v", before, after)
	}
	if errors.Is(err, ErrNeedRoot) {
		t.Errorf("wrong error: %v", err)
	}
}
