package loopkit

import "runtime"

// ReserveProcs makes room in the Go scheduler for threads locked to loops
// that block in epoll_wait: GOMAXPROCS is raised to loops+1 when it is
// below (never lowered). A locked loop blocked in a system call keeps its
// P only while another P is idle; when every P is held (GOMAXPROCS ≤
// loops, as on a process pinned to one CPU with one loop), sysmon retakes
// the P of a loop in epoll_wait after ~20 µs and keeps polling every
// 20 µs, and the loop's exitsyscall must win a P back on every wake-up:
// in proxy-connrate (rawepoll, one loop, pinned) strace counted 5-9
// nanosleep(2) of sysmon per proxied connection, and one harness run gave
// proxy CPU per connection 145 µs at GOMAXPROCS 1 against 128 µs at 2
// (haproxy 104). The extra P costs nothing while idle. It returns the
// GOMAXPROCS in force.
func ReserveProcs(loops int) int {
	if n := runtime.GOMAXPROCS(0); n > loops {
		return n
	}
	runtime.GOMAXPROCS(loops + 1)
	return loops + 1
}
