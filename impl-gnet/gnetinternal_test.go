package gnetengine

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/core/engine"
)

// TestGnetLayout fails when a gnet bump moves what gnetinternal.go reads:
// the pinned version, eventloop.poller's fields, and that the fd it yields
// is the epoll set holding the loop's connections.
func TestGnetLayout(t *testing.T) {
	if err := checkVersion(); err != nil {
		t.Fatal(err)
	}
	gc := openConn(t, engine.Config{Workers: 1}).gc
	epfd, err := epollFD(gc.EventLoop())
	if err != nil {
		t.Fatal(err)
	}
	// EPOLL_CTL_MOD fails with ENOENT unless the connection is in that set.
	if err := setInterest(epfd, gc.Fd(), true); err != nil {
		t.Fatalf("epoll fd %d does not hold the connection's fd %d: %v", epfd, gc.Fd(), err)
	}
	if _, err := epollFD(nil); err == nil {
		t.Fatal("epollFD accepted a nil event loop")
	}
	var ev [1]unix.EpollEvent
	if _, err := unix.EpollWait(epfd, ev[:], 0); err != nil {
		t.Fatalf("fd %d is not an epoll fd: %v", epfd, err)
	}
}
