package proc

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestReadSelf(t *testing.T) {
	// Burn a little CPU so utime moves.
	x := 0
	for i := 0; i < 50_000_000; i++ {
		x += i
	}
	_ = x
	u, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.CPUSeconds <= 0 || u.TickCPUSeconds <= 0 || u.RSSBytes <= 0 || u.PeakBytes < u.RSSBytes || u.Threads < 1 {
		t.Fatalf("implausible usage %+v", u)
	}
	// The two clocks agree to within the tick resolution and scheduling.
	if d := u.CPUSeconds - u.TickCPUSeconds; d > 0.05+0.2*u.CPUSeconds || d < -0.05-0.2*u.CPUSeconds {
		t.Fatalf("schedstat %.3f s vs ticks %.3f s", u.CPUSeconds, u.TickCPUSeconds)
	}
	if CPUDelta(Usage{CPUSeconds: 2, TickCPUSeconds: 1}, Usage{CPUSeconds: 1, TickCPUSeconds: 1.5}) != 0.5 {
		t.Fatal("a decreasing schedstat sum must fall back to the ticks")
	}
}

func TestStartReadyAndStop(t *testing.T) {
	p, err := Start("sh", []string{"sh", "-c", "echo 'READY 127.0.0.1:1 [::1]:2'; exec sleep 30"}, Options{PinCPU: -1, WaitReady: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	if len(p.Addrs) != 2 || p.Addrs[1] != "[::1]:2" {
		t.Fatalf("addrs %v", p.Addrs)
	}
	if err := p.Stop(); err != nil || !p.Exited() {
		t.Fatalf("stop: %v", err)
	}
}

func TestStartFailsBeforeReady(t *testing.T) {
	_, err := Start("bad", []string{"sh", "-c", "echo 'bad flag --x' >&2; exit 2"}, Options{PinCPU: -1, WaitReady: true})
	var se *StartError
	if err == nil || !asStartError(err, &se) || se.Stderr != "bad flag --x" {
		t.Fatalf("want StartError with stderr, got %v", err)
	}
}

func asStartError(err error, se **StartError) bool {
	e, ok := err.(*StartError)
	*se = e
	return ok
}

func TestTailBufferKeepsHeadAndTail(t *testing.T) {
	var b tailBuffer
	b.Write([]byte("SIGSEGV: segmentation violation\n"))
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "goroutine %d [idle]:\n", i)
	}
	b.Write([]byte("gs     0x0\n"))
	s := b.String()
	if !strings.HasPrefix(s, "SIGSEGV: segmentation violation") || !strings.HasSuffix(s, "gs     0x0") || !strings.Contains(s, "\n[...]\n") {
		t.Fatalf("head, tail or cut mark missing: %q...%q", s[:80], s[len(s)-80:])
	}
	if len(s) > headMax+tailMax+16 {
		t.Fatalf("kept %d bytes, bound %d", len(s), headMax+tailMax)
	}
	var short tailBuffer
	short.Write([]byte("exit: bad flag\n"))
	if short.String() != "exit: bad flag" {
		t.Fatalf("short stream: %q", short.String())
	}
}
