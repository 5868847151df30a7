package rawepoll

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawWaitMs caps one wait made without the runtime's knowledge (below);
// a loop idle for longer waits as an ordinary system call.
const rawWaitMs = 5

// rawWaiters counts the loops of the process now blocked in a raw wait.
var rawWaiters atomic.Int32

// epollWait is epoll_wait(2) into c.events, in one of two ways.
//
// A system call made through syscall.Syscall tells the runtime that the
// thread may block: its P goes into the syscall state, and sysmon retakes
// it (handoffp, a thread woken to run it) whenever no other P is idle,
// then polls every 20 µs while that goes on; the loop must win a P back
// on every wake-up. Under proxy-connrate, strace counted 2.6 nanosleep
// (sysmon's naps) and 0.8 futex per connection that HAProxy does not make
// (spec/engine.md §15 has what the raw wait saves, measured).
//
// So the loop waits with a raw system call while that leaves at least one
// P to everything else: the P stays with the loop, as a C worker keeps
// its CPU, and sysmon has nothing to retake. The runtime still gets the
// thread back when it needs it: a GC stop or stack scan preempts with a
// signal, which ends the wait with EINTR, and the loop yields at its next
// function call. The raw wait is bounded by rawWaitMs; a loop that stays
// idle then waits the ordinary way, which lets the runtime (and sysmon)
// sleep. A zero timeout never blocks, so it is always raw.
func (c *center) epollWait(timeout int) (int, error) {
	if timeout == 0 {
		return rawEpollWait(c.epfd, c.events, 0)
	}
	if rawWaiters.Add(1) < c.procs {
		t := min(timeout, rawWaitMs)
		c.rawWaits++
		n, err := rawEpollWait(c.epfd, c.events, t)
		rawWaiters.Add(-1)
		if n != 0 || err != nil || t == timeout {
			return n, err
		}
		timeout -= t
	} else {
		rawWaiters.Add(-1)
	}
	c.runtimeWaits++
	return unix.EpollWait(c.epfd, c.events, timeout)
}

// rawEpollWait is epoll_pwait with no signal mask (epoll_wait; arm64 has
// only the pwait form), through RawSyscall6: the runtime is not told.
func rawEpollWait(epfd int, events []unix.EpollEvent, msec int) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(msec), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
