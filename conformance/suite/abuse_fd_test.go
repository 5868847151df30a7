package suite

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/netmodels/netmodels/conformance/internal/harness"
	"github.com/netmodels/netmodels/conformance/internal/msgr1"
)

// abuseFDCases: descriptors (issue 21). One descriptor per socket, and a
// server out of descriptors backs off, keeps listening and serves again
// as soon as descriptors free up.
var abuseFDCases = []harness.Case{
	{ID: "os-one-fd-per-socket", Kind: harness.KindMsgr, Heavy: true,
		Spec: "spec/engine.md §11 (Descriptors); DESIGN.md principle 3",
		Desc: fmt.Sprintf("%d msgr sessions grow msgr-server's /proc/PID/fd by at most %d + %d, %d proxy sessions grow the proxy's by at most 2×%d + %d (client and server socket each)",
			fdSessions, fdSessions, fdSlack, fdSessions, fdSessions, fdSlack),
		Run: oneFDPerSocket},
	{ID: "msgr-os-fd-exhaustion", Kind: harness.KindMsgr, Heavy: true,
		Spec: "spec/engine.md §11 (Accept); issue 21",
		Desc: fmt.Sprintf("msgr-server's RLIMIT_NOFILE lowered (prlimit) to its open descriptors + %d, then %d silent connections: it runs out (descriptors reach the limit), an established session still echoes, "+
			"and once the flood closes a new session completes its handshake and an echo within %v: the listener never dies; bound about 3 s", fdRoom, fdFlood, fdRecover),
		Run: msgrFDExhaustion},
	pc("proxy-os-fd-exhaustion", "spec/engine.md §11 (Accept); issue 21",
		fmt.Sprintf("inspect-delay 10s, accept if { req.len gt 0 }, then reject; the proxy's RLIMIT_NOFILE lowered (prlimit) to its open descriptors + %d, then %d silent clients: it runs out (descriptors reach the limit), an established session still relays, "+
			"and once the flood closes a new session relays within %v: the listener never dies; bound about 3 s", fdRoom, fdFlood, fdRecover),
		proxyFDExhaustion),
}

const (
	fdSessions = 100
	fdSlack    = 4 // a descriptor or two an engine opens lazily (an epoll set, a timer)
	fdRoom     = 96
	fdFlood    = 300
	fdRecover  = 3 * time.Second // 1 s of back-off at most, on a loaded 2-core machine
)

// openFDs counts pid's open descriptors.
func openFDs(t *harness.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("descriptors of %d: %v", pid, err)
	}
	return len(ents)
}

// setFileLimit sets the soft RLIMIT_NOFILE of process pid (a child of the
// suite) to cur, keeping its hard limit.
func setFileLimit(t *harness.T, pid, cur int) {
	t.Helper()
	var old syscall.Rlimit
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_NOFILE, 0, uintptr(unsafe.Pointer(&old)), 0, 0); e != 0 {
		t.Fatalf("prlimit %d: %v", pid, e)
	}
	lim := syscall.Rlimit{Cur: uint64(cur), Max: old.Max}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_NOFILE, uintptr(unsafe.Pointer(&lim)), 0, 0, 0); e != 0 {
		t.Fatalf("prlimit %d NOFILE=%d: %v", pid, cur, e)
	}
}

// growth waits until pid's descriptors stop changing (two equal counts 50
// ms apart, within 3 s) and returns their number minus base.
func growth(t *harness.T, pid, base int) int {
	t.Helper()
	n := openFDs(t, pid)
	waitFor(3*time.Second, func() bool {
		time.Sleep(50 * time.Millisecond)
		m := openFDs(t, pid)
		stable := m == n
		n = m
		return stable
	})
	return n - base
}

func oneFDPerSocket(t *harness.T, e harness.Engine) {
	raiseFileLimit()
	msgrFDsPerSocket(t, e)
	proxyFDsPerSocket(t, e)
}

func msgrFDsPerSocket(t *harness.T, e harness.Engine) {
	{
		p := startServer(t, e)
		warm := openDefault(t, p)
		if _, err := warm.Echo(1, nil, nil, []byte("warm")); err != nil {
			t.Fatal(err)
		}
		base := openFDs(t, p.PID())
		for i := range fdSessions {
			s := open(t, p, msgr1.ClientOpts{})
			if _, err := s.Echo(1, nil, nil, []byte("x")); err != nil {
				t.Fatalf("session %d: %v", i, err)
			}
		}
		g := growth(t, p.PID(), base)
		t.Logf("%d msgr sessions: +%d descriptors", fdSessions, g)
		if g > fdSessions+fdSlack {
			t.Errorf("%d msgr sessions grew msgr-server's descriptors by %d, want at most %d (one per socket)", fdSessions, g, fdSessions+fdSlack)
		}
	}
}

func proxyFDsPerSocket(t *harness.T, e harness.Engine) {
	{
		be := newBackend(t, echo)
		p := startProxy(t, e, simpleCfg("", "", "", be.addr()))
		msg := []byte("ping\n")
		if err := roundTrip(dial(t, p.Addr(0), ""), msg, msg, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		base := openFDs(t, p.PID())
		for i := range fdSessions {
			if err := roundTrip(dial(t, p.Addr(0), ""), msg, msg, 5*time.Second); err != nil {
				t.Fatalf("session %d: %v", i, err)
			}
		}
		g := growth(t, p.PID(), base)
		t.Logf("%d proxy sessions: +%d descriptors", fdSessions, g)
		if g > 2*fdSessions+fdSlack {
			t.Errorf("%d proxy sessions grew the proxy's descriptors by %d, want at most %d (one per socket, two per session)", fdSessions, g, 2*fdSessions+fdSlack)
		}
	}
}

// flood opens n connections to addr that send nothing; the caller closes
// them. Connects complete in the kernel's backlog whether or not the
// server accepts.
func flood(t *harness.T, addr string, n int) []net.Conn {
	t.Helper()
	cs := make([]net.Conn, 0, n)
	for i := range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			for _, c := range cs {
				c.Close()
			}
			t.Fatalf("flood connection %d: %v", i, err)
		}
		cs = append(cs, c)
	}
	return cs
}

// exhaust lowers pid's descriptor limit to its open descriptors + fdRoom,
// floods addr and waits until the process has used (nearly) all of them.
// It returns the flood, for the caller to close.
func exhaust(t *harness.T, pid int, addr string) []net.Conn {
	t.Helper()
	limit := openFDs(t, pid) + fdRoom
	setFileLimit(t, pid, limit)
	cs := flood(t, addr, fdFlood)
	peak := 0
	if !waitFor(5*time.Second, func() bool {
		peak = max(peak, openFDs(t, pid))
		return peak >= limit-2
	}) {
		for _, c := range cs {
			c.Close()
		}
		t.Fatalf("%d connections took the server to %d descriptors, limit %d: not exhausted", fdFlood, peak, limit)
	}
	t.Logf("limit %d descriptors, reached %d under %d connections", limit, peak, fdFlood)
	return cs
}

func msgrFDExhaustion(t *harness.T, e harness.Engine) {
	raiseFileLimit()
	p := startServer(t, e)
	warm := openDefault(t, p)
	if _, err := warm.Echo(1, nil, nil, []byte("before")); err != nil {
		t.Fatal(err)
	}
	cs := exhaust(t, p.PID(), p.Addr(0))
	if _, err := warm.Echo(2, nil, nil, []byte("exhausted")); err != nil {
		t.Errorf("established session while out of descriptors: %v", err)
	}
	for _, c := range cs {
		c.Close()
	}
	start := time.Now()
	s, err := msgr1.Open(p.Addr(0), msgr1.ClientOpts{})
	if err != nil {
		t.Fatalf("new session after the flood closed: %v (after %v; exited %v); stderr: %s", err, time.Since(start).Round(time.Millisecond), p.Exited(), p.StderrTail())
	}
	defer s.Close()
	if _, err := s.Echo(1, nil, nil, []byte("after")); err != nil {
		t.Fatalf("new session after the flood closed: %v", err)
	}
	took := time.Since(start)
	t.Logf("new session served %v after the flood closed", took.Round(time.Millisecond))
	if took > fdRecover {
		t.Errorf("new session served %v after the flood closed, want within %v", took.Round(time.Millisecond), fdRecover)
	}
	if _, err := warm.Echo(3, nil, nil, []byte("after")); err != nil {
		t.Errorf("established session after the flood: %v", err)
	}
}

func proxyFDExhaustion(t *harness.T, e harness.Engine) {
	raiseFileLimit()
	be := newBackend(t, echo)
	// The flood's sessions wait for content before a backend is chosen,
	// so each holds one descriptor, and their end (EOF, nothing sent) is
	// a reject: what is measured is the accept side, not backend connects
	// failing for want of descriptors (those retry with HAProxy's 1 s
	// turn-around and are another matter).
	fe := "    tcp-request inspect-delay 10s\n    tcp-request content accept if { req.len gt 0 }\n    tcp-request content reject\n"
	p := startProxy(t, e, simpleCfg("", fe, "", be.addr()))
	msg := []byte("ping\n")
	warm := dial(t, p.Addr(0), "")
	if err := roundTrip(warm, msg, msg, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	cs := exhaust(t, p.PID(), p.Addr(0))
	if err := roundTrip(warm, msg, msg, 5*time.Second); err != nil {
		t.Errorf("established session while out of descriptors: %v", err)
	}
	for _, c := range cs {
		c.Close()
	}
	start := time.Now()
	c, err := net.DialTimeout("tcp", p.Addr(0), fdRecover)
	if err == nil {
		defer c.Close()
		err = roundTrip(c, msg, msg, fdRecover+2*time.Second)
	}
	took := time.Since(start)
	if err != nil {
		t.Fatalf("new session after the flood closed: %v (after %v; exited %v); stderr: %s", err, took.Round(time.Millisecond), p.Exited(), p.StderrTail())
	}
	t.Logf("new session relayed %v after the flood closed", took.Round(time.Millisecond))
	if took > fdRecover {
		t.Errorf("new session relayed %v after the flood closed, want within %v", took.Round(time.Millisecond), fdRecover)
	}
	if err := roundTrip(warm, msg, msg, 5*time.Second); err != nil {
		t.Errorf("established session after the flood: %v", err)
	}
}
