package netsim

import (
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// packetPair is a stand-in for a TAP device without root: a SOCK_SEQPACKET
// pair keeps frame boundaries as a TAP does. The emulator gets one end,
// the test the other.
func packetPair(t *testing.T, name string) (emu, peer *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	peer = os.NewFile(uintptr(fds[1]), name+"-peer")
	t.Cleanup(func() { peer.Close() })
	return os.NewFile(uintptr(fds[0]), name), peer
}

// TestEmulatorForwards: frames cross both ways in order, no earlier than
// the delay, the counters see them, and Close ends the goroutines (which
// were blocked reading) and closes the devices.
func TestEmulatorForwards(t *testing.T) {
	a, aPeer := packetPair(t, "a")
	b, bPeer := packetPair(t, "b")
	e := NewEmulator(a, b, Profile{Name: "test", Delay: 5 * time.Millisecond}, 1)
	const n = 50
	for _, dir := range []struct {
		in, out *os.File
	}{{aPeer, bPeer}, {bPeer, aPeer}} {
		start := time.Now()
		for i := range n {
			if _, err := dir.in.Write([]byte(fmt.Sprintf("frame %d", i))); err != nil {
				t.Fatal(err)
			}
		}
		_ = dir.out.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 64)
		for i := range n {
			k, err := dir.out.Read(buf)
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if got, want := string(buf[:k]), fmt.Sprintf("frame %d", i); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		}
		if d := time.Since(start); d < 5*time.Millisecond {
			t.Errorf("%d frames crossed in %v, under the 5 ms delay", n, d)
		}
	}
	ab, ba := e.Counters()
	if ab != (Counters{Forwarded: n}) || ba != (Counters{Forwarded: n}) {
		t.Errorf("counters %+v, %+v", ab, ba)
	}
	done := make(chan error, 1)
	go func() { done <- e.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the emulator")
	}
	if _, err := a.Write([]byte("x")); err == nil {
		t.Error("a device still open after Close")
	}
	if e.Close() != nil {
		t.Error("second Close failed")
	}
}
