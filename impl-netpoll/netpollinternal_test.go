package netpollengine

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/netpoll"
	"golang.org/x/sys/unix"
)

// TestNetpollLayout fails when a netpoll bump moves what netpollinternal.go
// relies on: the pinned version and the four private fields
// (checkNetpoll), and what the engine does with them: the operator
// operatorOf finds is the one polling the connection's fd, the poller reads
// nothing for an operator hold holds, detach takes the fd out of epoll
// whatever netpoll's counter says, and after markRegistered netpoll's own
// Control(PollDetach) deregisters again.
func TestNetpollLayout(t *testing.T) {
	if err := checkNetpoll(); err != nil {
		t.Fatal(err)
	}
	if _, err := operatorOf(nil); err == nil {
		t.Fatal("operatorOf accepted a nil connection")
	}
	nc, op, peer := socketAttachment(t)
	read := make(chan []byte, 16)
	if err := nc.SetOnRequest(func(_ context.Context, nc netpoll.Connection) error {
		b, err := nc.Reader().ReadBinary(nc.Reader().Len())
		if err == nil {
			read <- b
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if op.FD != nc.(netpoll.Conn).Fd() {
		t.Fatalf("operator polls fd %d, the connection's is %d", op.FD, nc.(netpoll.Conn).Fd())
	}
	send := func(s string) {
		t.Helper()
		if _, err := unix.Write(peer, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(s string) {
		t.Helper()
		select {
		case b := <-read:
			if string(b) != s {
				t.Fatalf("read %q, want %q", b, s)
			}
		case <-time.After(boundTimeout):
			t.Fatalf("%q never read: the fd is not in netpoll's epoll", s)
		}
	}
	send("one")
	expect("one")

	// hold takes the flag the poller takes: while held, nothing is read.
	// The poller (or the task's Release) may still hold it for "one".
	for deadline := time.Now().Add(boundTimeout); !hold(op); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("hold never succeeded on an idle operator")
		}
	}
	send("held")
	select {
	case b := <-read:
		unhold(op)
		t.Fatalf("read %q while the operator was held", b)
	case <-time.After(100 * time.Millisecond): // proving a negative: bounded wait
	}
	unhold(op)
	expect("held")

	// Spend netpoll's counter, as a pause does: detach deregisters anyway.
	if err := op.Control(netpoll.PollDetach); err != nil {
		t.Fatal(err)
	}
	if err := op.Control(netpoll.PollReadable); err != nil {
		t.Fatal(err)
	}
	if err := detach(op); err != nil {
		t.Fatalf("detach with netpoll's counter spent: %v (the counter is not where netpollinternal.go looks)", err)
	}
	send("two")
	select {
	case b := <-read:
		t.Fatalf("read %q from a deregistered fd", b)
	case <-time.After(100 * time.Millisecond): // proving a negative: bounded wait
	}

	// Registered again and marked: netpoll's own detach must deregister.
	if err := op.Control(netpoll.PollReadable); err != nil {
		t.Fatal(err)
	}
	markRegistered(op)
	expect("two")
	if detachedSince(op) {
		t.Fatal("detachedSince right after markRegistered (the counter is not where netpollinternal.go looks)")
	}
	if err := op.Control(netpoll.PollDetach); err != nil {
		t.Fatal(err)
	}
	if !detachedSince(op) {
		t.Fatal("netpoll's own detach did not count itself: release would leave a registration behind")
	}
	if err := detach(op); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("detach after netpoll's own: %v, want ENOENT (netpoll did not deregister: markRegistered missed its counter)", err)
	}
}

// socketAttachment is a netpoll connection made the engine's way (a quiet
// connection over an eventfd, then the socket in its place) over one end of a
// socketpair; it returns the other end. Both close at the end of the test.
func socketAttachment(t *testing.T) (netpoll.Connection, *netpoll.FDOperator, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "socketpair")
	t.Cleanup(func() { _ = f.Close(); _ = unix.Close(fds[1]) })
	raw, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	nc, op, err := quietConnection(-1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	ri := &readInterest{}
	if err := ri.install(op, 1<<16, func() bool { return false }); err != nil {
		t.Fatal(err)
	}
	if err := ri.plug(raw); err != nil {
		t.Fatal(err)
	}
	ri.resume()
	return nc, op, fds[1]
}

// Every connection the engine makes holds a one-slice output barrier
// (netpollinternal.go), its own; netpoll's pool takes the offered one as
// its own type; and a netpoll connection that gets a small barrier from
// the pool, the engine's or not, still writes everything through
// netpoll's writer (its flush sends one slice, the poller the rest).
func TestSmallBarrier(t *testing.T) {
	if err := checkNetpoll(); err != nil {
		t.Fatal(err)
	}
	seen := map[*barrierLayout]bool{}
	for i := 0; i < 3; i++ {
		nc, _, err := quietConnection(-1)
		if err != nil {
			t.Fatal(err)
		}
		b := *outputBarrier(nc)
		if len(b.bs) != 1 || len(b.ivs) != 1 || seen[b] {
			t.Errorf("connection %d: barrier of %d slices, %d iovecs, shared %v; want its own of 1", i, len(b.bs), len(b.ivs), seen[b])
		}
		seen[b] = true
		defer nc.Close()
	}
	offerSmallBarrier()
	if got := reflect.TypeOf(barrierPool.Get()); got != reflect.PointerTo(layout.barrierType) {
		t.Errorf("netpoll's pool gave a %v, want *%v", got, layout.barrierType)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	offerSmallBarrier()
	nc, err := netpoll.NewFDConnection(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	shrinkOutputBarrier(nc) // whether or not the Get took the offer
	// Three nodes' worth, so the flush has more slices than the barrier.
	want := ""
	for i := 0; i < 3; i++ {
		chunk := strings.Repeat(string(rune('a'+i)), 5000)
		want += chunk
		if _, err := nc.Writer().WriteBinary([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- nc.Writer().Flush() }()
	_ = unix.SetNonblock(fds[1], false)
	got := make([]byte, 0, len(want))
	buf := make([]byte, 4096)
	for len(got) < len(want) {
		n, err := unix.Read(fds[1], buf)
		if err != nil || n == 0 {
			t.Fatalf("peer read after %d bytes: %d, %v", len(got), n, err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != want {
		t.Fatal("the peer read other bytes than were written")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Flush did not return")
	}
}
