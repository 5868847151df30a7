//go:build dpdk

// The gate between a port's data path and EAL's interrupt thread.
//
// Why: net_memif (DPDK 22.11) runs its control channel on EAL's interrupt
// thread. When the peer goes away (exit, SIGKILL, port stop) that thread
// runs memif_disconnect: it clears the "connected" flag, munmaps the
// shared-memory regions and frees their descriptors; a new peer makes
// memif_connect map fresh ones. eth_memif_rx/tx test the flag once at the
// top and then read the rings and buffers with no lock, so a burst that
// overlaps a disconnect reads unmapped memory: bin/dpdk msgr-server died with
// SIGSEGV in rte_eth_rx_burst (addr = ring + 6, the ring's head) when the
// bench's client of a repetition ended (churn_dpdk_test.go reproduces it).
// Checking the link state first cannot help: the disconnect can start right
// after the check. DPDK offers no hook around its interrupt callbacks, so:
//
// Every burst is a reader of the gate (nm_data_enter/leave: two atomic
// operations, no syscall). The interrupt thread is its writer exactly while
// it is not blocked in epoll_wait: this file's epoll_wait takes the
// thread's place in librte_eal's call (an executable's definition comes
// before libc's for every shared object), opens the gate before waiting
// and closes it, waiting for bursts in progress to end, as soon as the wait
// returns, so every callback (memif's control channel, alarms, link state)
// runs with no burst in flight. For every other thread it is plain
// epoll_wait. Stopping and closing the port also hold the gate (a
// disconnect running on both threads at once frees the regions twice).

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <rte_interrupts.h>
#include <rte_pause.h>

#include "gate.h"

static atomic_int gate_readers; // bursts in progress
static atomic_int gate_writer;  // 1: control code may be changing a port

// gate_spin waits briefly with pause, then yields the CPU: on a 2-CPU
// machine the thread we wait for may need ours.
static void gate_spin(int *i) {
	if (++*i < 256)
		rte_pause();
	else
		sched_yield();
}

void nm_data_enter(void) {
	for (;;) {
		atomic_fetch_add(&gate_readers, 1);
		if (atomic_load(&gate_writer) == 0)
			return;
		atomic_fetch_sub(&gate_readers, 1);
		for (int i = 0; atomic_load_explicit(&gate_writer, memory_order_relaxed) != 0;)
			gate_spin(&i);
	}
}

void nm_data_leave(void) { atomic_fetch_sub_explicit(&gate_readers, 1, memory_order_release); }

void nm_ctl_enter(void) {
	int i = 0;
	for (int free = 0; !atomic_compare_exchange_weak(&gate_writer, &free, 1); free = 0)
		gate_spin(&i);
	while (atomic_load(&gate_readers) != 0)
		gate_spin(&i);
}

void nm_ctl_leave(void) { atomic_store(&gate_writer, 0); }

static __thread int intr_holds_gate;
static atomic_int intr_waits; // epoll_waits of the interrupt thread seen here

int nm_gate_intr_waits(void) { return atomic_load(&intr_waits); }

int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout) {
	static int (*real)(int, struct epoll_event *, int, int);
	if (real == NULL)
		real = (int (*)(int, struct epoll_event *, int, int))dlsym(RTLD_NEXT, "epoll_wait");
	if (!rte_thread_is_intr())
		return real(epfd, events, maxevents, timeout);
	atomic_fetch_add(&intr_waits, 1);
	if (intr_holds_gate) {
		intr_holds_gate = 0;
		nm_ctl_leave();
	}
	int rc = real(epfd, events, maxevents, timeout);
	int err = errno;
	nm_ctl_enter();
	intr_holds_gate = 1;
	errno = err;
	return rc;
}
