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
	e := newTestEngine(t, engine.Config{Workers: 1})
	t.Cleanup(func() { _ = e.Shutdown(t.Context()) })
	ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return engine.BaseHandler{} })
	if err != nil {
		t.Fatal(err)
	}
	h := &openHandler{opened: make(chan struct{})}
	c, err := e.Dial(ln.Addr().String(), h, engine.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, h.opened, "OnOpen")
	gc := c.(*conn).gc
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
