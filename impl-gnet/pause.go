package gnetengine

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// findEpollFD returns the epoll instance that has fd registered, by reading
// /proc/self/fdinfo of every eventpoll fd ("tfd:" lines). gnet keeps its
// poller private; this is the one place the engine reaches under it, and it
// does so only to change the interest set of a socket gnet already watches.
func findEpollFD(fd int) (int, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1, err
	}
	want := strconv.Itoa(fd)
	for _, ent := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", ent.Name()))
		if err != nil || target != "anon_inode:[eventpoll]" {
			continue
		}
		if epollHas(ent.Name(), want) {
			return strconv.Atoi(ent.Name())
		}
	}
	return -1, fmt.Errorf("gnet: no epoll set holds fd %d", fd)
}

func epollHas(epfd, fd string) bool {
	f, err := os.Open(filepath.Join("/proc/self/fdinfo", epfd))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "tfd:" && fields[1] == fd {
			return true
		}
	}
	return false
}

// setInterest replaces fd's events in the loop's epoll set. gnet (without
// the poll_opt build tag) stores the fd itself as the event's data, so the
// registration stays one gnet understands.
func (l *loop) setInterest(fd int, read, write bool) error {
	if l.epfd < 0 {
		epfd, err := findEpollFD(fd)
		if err != nil {
			return err
		}
		l.epfd = epfd
	}
	var ev uint32
	if read {
		ev |= unix.EPOLLIN | unix.EPOLLPRI
	}
	if write {
		ev |= unix.EPOLLOUT
	}
	return unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Fd: int32(fd), Events: ev})
}
