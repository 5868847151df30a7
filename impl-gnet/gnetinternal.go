package gnetengine

// This file is the engine's one reach under gnet's public API; nothing else
// in the package uses reflect, unsafe or /proc on gnet.
//
// Why: the contract's PauseRead must stop reading from the socket (TCP
// backpressure), and gnet v2 has no way to stop reading a connection: its
// loop keeps EPOLLIN armed for every connection. The engine removes EPOLLIN
// from the connection's registration in the loop's own epoll set, whose fd
// gnet keeps in eventloop.poller.fd. Reading that int through reflect (no
// unsafe, no writes) replaces scanning /proc/self/fdinfo.
//
// What it relies on, checked at New (version), on every loop (layout) and by
// TestGnetLayout: the pinned gnet version; eventloop.poller is a
// *netpoll.Poller whose fd is an int; and the default poller (not the
// poll_opt build tag), which stores the fd itself as each event's data, so
// an EPOLL_CTL_MOD with Fd: fd and gnet's own level-triggered read events
// leaves a registration gnet understands. gnet changes the registration
// only in its write path, which the engine does not use (conn.go), so a
// pause holds until ResumeRead.

import (
	"fmt"
	"reflect"
	"runtime/debug"
	"strings"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/netpoll"
	"golang.org/x/sys/unix"
)

const (
	gnetModule  = "github.com/panjf2000/gnet/v2"
	gnetVersion = "v2.10.0"
)

// pollerLayout is the default (non-poll_opt) netpoll.Poller layout the
// adapter was written against: name and kind of every field.
const pollerLayout = "fd int, efd int, efdBuf slice, wakeupCall int32, asyncTaskQueue interface, " +
	"urgentAsyncTaskQueue interface, highPriorityEventsThreshold int32"

// checkVersion fails when the gnet linked in is not the pinned one (New
// calls it); epollFD checks the layout on each loop the engine meets.
func checkVersion() error {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil // no module info (not a module build): epollFD still checks the layout
	}
	for _, m := range bi.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		if m.Path == gnetModule && m.Version != gnetVersion {
			return fmt.Errorf("gnet: engine written against %s %s, linked with %s: re-check gnetinternal.go", gnetModule, gnetVersion, m.Version)
		}
	}
	return nil
}

// epollFD returns the epoll fd of gnet's loop el, or an error naming what
// differs from the layout above.
func epollFD(el gnet.EventLoop) (int, error) {
	v := reflect.ValueOf(el)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct || v.Elem().Type().Name() != "eventloop" {
		return -1, fmt.Errorf("gnet: event loop is %T, not *gnet.eventloop", el)
	}
	p := v.Elem().FieldByName("poller")
	if p.Kind() != reflect.Pointer || p.Type().Elem().Name() != "Poller" || p.IsNil() {
		return -1, fmt.Errorf("gnet: eventloop.poller is %s, not *netpoll.Poller", p)
	}
	pt := p.Type().Elem()
	fields := make([]string, pt.NumField())
	for i := range fields {
		fields[i] = pt.Field(i).Name + " " + pt.Field(i).Type.Kind().String()
	}
	if got := strings.Join(fields, ", "); got != pollerLayout {
		return -1, fmt.Errorf("gnet: netpoll.Poller is {%s}, want {%s}", got, pollerLayout)
	}
	return int(p.Elem().Field(0).Int()), nil
}

// setInterest sets fd's events in gnet's epoll set epfd: gnet's own read
// events (netpoll.ReadEvents, public) or none. Errors still come.
func setInterest(epfd, fd int, read bool) error {
	var ev uint32
	if read {
		ev = netpoll.ReadEvents
	}
	return unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Fd: int32(fd), Events: ev})
}
