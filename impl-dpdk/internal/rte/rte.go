//go:build dpdk

// Package rte is the cgo binding to the few DPDK calls the engine needs: EAL
// init and cleanup, one mbuf pool, one port with one rx/tx queue pair, rx and
// tx bursts. DPDK's inline functions (rx/tx burst, mbuf alloc, mtod,
// rte_errno) get small C wrappers below, since cgo cannot call them.
//
// No Go pointer ever crosses into C: every array handed to DPDK lives in
// C memory, and frames are copied in and out by Go through unsafe.Slice views
// of mbuf data (research/dpdk-gvisor.md, "The cgo layer").
package rte

/*
#cgo pkg-config: libdpdk
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <stdio.h>
#include "gate.h"

// nm_log is where DPDK logs go once nm_log_quiet ran: an unlinked
// temporary file, so PMD warnings (net_tap's "All rt-signals are in use",
// the missing multiq qdisc) stay off the command's stderr, whose contract
// is one line on error. nm_log_tail reads its end for error messages.
static FILE *nm_log;

static void nm_log_quiet(void) {
	FILE *f = tmpfile();
	if (f == NULL) return;
	setvbuf(f, NULL, _IOLBF, 0);
	if (rte_openlog_stream(f) == 0) nm_log = f; else fclose(f);
}

static int nm_log_tail(char *buf, int n) {
	if (nm_log == NULL) return 0;
	fflush(nm_log);
	long end = ftell(nm_log);
	if (end < 0) return 0;
	long from = end > n ? end - n : 0;
	if (fseek(nm_log, from, SEEK_SET) != 0) return 0;
	int got = (int)fread(buf, 1, (size_t)(end - from), nm_log);
	fseek(nm_log, end, SEEK_SET);
	return got < 0 ? 0 : got;
}

// nm_eal_init runs rte_eal_init on argv (C memory EAL may keep pointers
// into) and returns rte_errno on failure, read on the same thread.
static int nm_eal_init(int argc, char **argv, int *err) {
	int rc = rte_eal_init(argc, argv);
	if (rc < 0) *err = rte_errno;
	return rc;
}

// nm_port_init configures one rx and one tx queue, starts the port and
// turns promiscuous mode on. It returns 0 or the step that failed (1..6)
// with the DPDK error in *err.
// With want_intr it asks for rx interrupts and, once started, adds the rx
// queue's interrupt to the calling thread's epoll (RTE_EPOLL_PER_THREAD):
// call it on the poll thread. *intr_ok says whether that worked (net_tap
// yes; memif and af_packet say ENOTSUP in 22.11).
static int nm_port_init(uint16_t port, struct rte_mempool *pool, uint16_t nrxd, uint16_t ntxd, uint16_t mtu, int want_intr, int *intr_ok, int *err) {
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof conf);
	conf.intr_conf.rxq = want_intr ? 1 : 0;
	int rc = rte_eth_dev_configure(port, 1, 1, &conf);
	if (rc < 0 && want_intr) {
		want_intr = 0;
		conf.intr_conf.rxq = 0;
		rc = rte_eth_dev_configure(port, 1, 1, &conf);
	}
	if (rc < 0) { *err = -rc; return 1; }
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrxd, &ntxd);
	if (rc < 0) { *err = -rc; return 2; }
	int sock = rte_eth_dev_socket_id(port);
	if (sock < 0) sock = 0;
	rc = rte_eth_rx_queue_setup(port, 0, nrxd, sock, NULL, pool);
	if (rc < 0) { *err = -rc; return 3; }
	rc = rte_eth_tx_queue_setup(port, 0, ntxd, sock, NULL);
	if (rc < 0) { *err = -rc; return 4; }
	if (mtu > 0) {
		// ENOTSUP: the PMD has no MTU to set (memif: frames are bounded
		// by its buffers only, chained); the stack's MTU still applies.
		// net_tap in 22.11 refuses frames above 1522 bytes (EINVAL).
		rc = rte_eth_dev_set_mtu(port, mtu);
		if (rc < 0 && rc != -ENOTSUP) { *err = -rc; return 5; }
	}
	rc = rte_eth_dev_start(port);
	if (rc < 0) { *err = -rc; return 6; }
	rte_eth_promiscuous_enable(port);
	*intr_ok = 0;
	if (want_intr && rte_eth_dev_rx_intr_ctl_q(port, 0, RTE_EPOLL_PER_THREAD, RTE_INTR_EVENT_ADD, NULL) == 0)
		*intr_ok = 1;
	return 0;
}

// nm_rx_wait arms the rx interrupt and blocks in the thread's epoll for
// at most timeout_ms. The event is edge-triggered and queued in epoll, so
// a frame that lands between the last empty poll and the wait still wakes
// it. Returns <0 on error, else the number of events.
static int nm_rx_wait(uint16_t port, int timeout_ms) {
	// net_tap has no enable/disable (its queue fd is the interrupt, always
	// live): ENOTSUP there just means "nothing to arm".
	int rc = rte_eth_dev_rx_intr_enable(port, 0);
	if (rc != 0 && rc != -ENOTSUP) return -1;
	struct rte_epoll_event ev;
	int n = rte_epoll_wait(RTE_EPOLL_PER_THREAD, &ev, 1, timeout_ms);
	if (rc == 0) rte_eth_dev_rx_intr_disable(port, 0);
	return n;
}

// nm_rx receives up to n frames; for each it stores the mbuf, its data
// pointer and length in the caller's C arrays. The burst holds the gate:
// memif's interrupt thread must not unmap the rings under it (gate.c).
static uint16_t nm_rx(uint16_t port, struct rte_mbuf **bufs, void **data, uint16_t *lens, uint16_t n) {
	nm_data_enter();
	uint16_t got = rte_eth_rx_burst(port, 0, bufs, n);
	nm_data_leave();
	for (uint16_t i = 0; i < got; i++) {
		data[i] = rte_pktmbuf_mtod(bufs[i], void *);
		// Multi-segment frames are not expected (no scatter, MTU <= mbuf
		// room); only the first segment is seen.
		lens[i] = rte_pktmbuf_data_len(bufs[i]);
	}
	return got;
}

// nm_tx_alloc allocates n mbufs and returns their data pointers and room.
static int nm_tx_alloc(struct rte_mempool *pool, struct rte_mbuf **bufs, void **data, uint16_t *room, unsigned n) {
	if (rte_pktmbuf_alloc_bulk(pool, bufs, n) != 0) return -1;
	for (unsigned i = 0; i < n; i++) {
		data[i] = rte_pktmbuf_mtod(bufs[i], void *);
		room[i] = rte_pktmbuf_tailroom(bufs[i]);
	}
	return 0;
}

// nm_tx sets the lengths, sends with a few retries and frees what the
// queue did not take. It returns the number sent.
static uint16_t nm_tx(uint16_t port, struct rte_mbuf **bufs, uint16_t *lens, uint16_t n) {
	for (uint16_t i = 0; i < n; i++) {
		bufs[i]->data_len = lens[i];
		bufs[i]->pkt_len = lens[i];
	}
	uint16_t sent = 0;
	nm_data_enter(); // as in nm_rx
	for (int tries = 0; tries < 4 && sent < n; tries++) {
		sent += rte_eth_tx_burst(port, 0, bufs + sent, n - sent);
	}
	nm_data_leave();
	if (sent < n) rte_pktmbuf_free_bulk(bufs + sent, n - sent);
	return sent;
}

static int nm_link_up(uint16_t port) {
	struct rte_eth_link link;
	if (rte_eth_link_get_nowait(port, &link) != 0) return 0;
	return link.link_status == RTE_ETH_LINK_UP;
}

static int nm_mac(uint16_t port, uint8_t *out) {
	struct rte_ether_addr a;
	int rc = rte_eth_macaddr_get(port, &a);
	if (rc == 0) memcpy(out, a.addr_bytes, 6);
	return rc;
}

// nm_port_stop holds the gate: a memif disconnect must not run on the
// interrupt thread and here at once (gate.c).
static void nm_port_stop(uint16_t port) {
	nm_ctl_enter();
	rte_eth_dev_stop(port);
	rte_eth_dev_close(port);
	nm_ctl_leave();
}

// nm_pool_create makes n mbufs with room for a whole frame of the given
// MTU (rx without scatter, tx of one segment), at least DPDK's default.
static struct rte_mempool *nm_pool_create(const char *name, unsigned n, uint16_t mtu, int *err) {
	uint32_t room = RTE_MBUF_DEFAULT_BUF_SIZE;
	uint32_t need = (uint32_t)mtu + RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN + 8 + RTE_PKTMBUF_HEADROOM;
	if (need > room) room = (need + 1023) & ~1023u;
	struct rte_mempool *p = rte_pktmbuf_pool_create(name, n, 256, 0, (uint16_t)room, rte_socket_id());
	if (p == NULL) *err = rte_errno;
	return p;
}
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"
)

// Available reports that this build has DPDK support.
const Available = true

// Burst is the most frames one rx or tx call handles.
const Burst = 32

// Error is a failed DPDK call: the operation, the step and the errno,
// with DPDK's last log line when its log is quiet (QuietLog).
type Error struct {
	Op    string
	Errno int
	Log   string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("dpdk: %s: %s (errno %d)", e.Op, C.GoString(C.rte_strerror(C.int(e.Errno))), e.Errno)
	if e.Log != "" {
		s += "; DPDK log: " + e.Log
	}
	return s
}

func newError(op string, errno C.int) *Error {
	return &Error{Op: op, Errno: int(errno), Log: LastLog()}
}

// QuietLog sends DPDK's log to an unlinked temporary file instead of
// stderr (call it before EALInit); errors then quote its last line.
func QuietLog() { C.nm_log_quiet() }

// LastLog is the last non-empty line of the quiet log ("" when logging to
// stderr).
func LastLog() string {
	buf := (*C.char)(C.malloc(4096))
	defer C.free(unsafe.Pointer(buf))
	n := C.nm_log_tail(buf, 4096)
	lines := strings.Split(strings.TrimSpace(C.GoStringN(buf, n)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// EALInit runs rte_eal_init. It must run on a goroutine locked to its OS
// thread for good: EAL pins that thread and keeps per-thread state (lcore
// id, rte_errno). args excludes the program name.
func EALInit(args []string) error {
	argv := C.calloc(C.size_t(len(args)+2), C.size_t(unsafe.Sizeof(uintptr(0))))
	av := unsafe.Slice((**C.char)(argv), len(args)+2)
	av[0] = C.CString("netmodels-dpdk")
	for i, a := range args {
		av[i+1] = C.CString(a) // EAL keeps pointers into argv: never freed
	}
	var errno C.int
	if rc := C.nm_eal_init(C.int(len(args)+1), (**C.char)(argv), &errno); rc < 0 {
		return newError("rte_eal_init", errno)
	}
	return nil
}

// GateInUse reports whether EAL's interrupt thread goes through the gate
// between bursts and its callbacks (gate.c): true once EAL is initialised,
// unless the link dropped gate.c's epoll_wait.
func GateInUse() bool { return C.nm_gate_intr_waits() > 0 }

// EALCleanup releases EAL resources; every port must be stopped first.
func EALCleanup() { C.rte_eal_cleanup() }

// PortCount is the number of probed ports (0 means the vdev probe failed).
func PortCount() int { return int(C.rte_eth_dev_count_avail()) }

// Port is one started ethdev port with one rx/tx queue pair. Rx must be
// called from one thread at a time; Tx too (DPDK queues are not MT-safe;
// the caller serialises).
type Port struct {
	id   C.uint16_t
	pool *C.struct_rte_mempool
	intr bool // rx interrupts armed on the opening thread's epoll

	rxBufs **C.struct_rte_mbuf
	rxData *unsafe.Pointer
	rxLens *C.uint16_t
	txBufs **C.struct_rte_mbuf
	txData *unsafe.Pointer
	txRoom *C.uint16_t
	txLens *C.uint16_t
}

var portSteps = [...]string{"", "rte_eth_dev_configure", "rte_eth_dev_adjust_nb_rx_tx_desc", "rte_eth_rx_queue_setup", "rte_eth_tx_queue_setup", "rte_eth_dev_set_mtu", "rte_eth_dev_start"}

// OpenPort creates the mbuf pool (nmbufs buffers) and starts port id. It
// asks for rx interrupts on the calling thread (see WaitRx). mtu > 0 sets
// the port's MTU and sizes the mbufs for whole frames of it.
func OpenPort(id int, nmbufs int, mtu int) (*Port, error) {
	name := C.CString(fmt.Sprintf("nm_pool_%d", id))
	defer C.free(unsafe.Pointer(name))
	var errno C.int
	pool := C.nm_pool_create(name, C.uint(nmbufs), C.uint16_t(mtu), &errno)
	if pool == nil {
		return nil, newError("rte_pktmbuf_pool_create", errno)
	}
	var intr C.int
	if step := C.nm_port_init(C.uint16_t(id), pool, 1024, 1024, C.uint16_t(mtu), 1, &intr, &errno); step != 0 {
		return nil, newError(portSteps[step], errno)
	}
	p := &Port{id: C.uint16_t(id), pool: pool, intr: intr != 0}
	ptr := C.size_t(unsafe.Sizeof(uintptr(0)))
	p.rxBufs = (**C.struct_rte_mbuf)(C.calloc(Burst, ptr))
	p.rxData = (*unsafe.Pointer)(C.calloc(Burst, ptr))
	p.rxLens = (*C.uint16_t)(C.calloc(Burst, 2))
	p.txBufs = (**C.struct_rte_mbuf)(C.calloc(Burst, ptr))
	p.txData = (*unsafe.Pointer)(C.calloc(Burst, ptr))
	p.txRoom = (*C.uint16_t)(C.calloc(Burst, 2))
	p.txLens = (*C.uint16_t)(C.calloc(Burst, 2))
	return p, nil
}

// MAC is the port's Ethernet address.
func (p *Port) MAC() [6]byte {
	var m [6]byte
	C.nm_mac(p.id, (*C.uint8_t)(unsafe.Pointer(&m[0])))
	return m
}

// LinkUp reports the link status without waiting.
func (p *Port) LinkUp() bool { return C.nm_link_up(p.id) != 0 }

// Rx receives one burst and calls fn with a view of each frame; the views
// are valid only during fn (the mbufs are freed right after).
func (p *Port) Rx(fn func(frame []byte)) int {
	n := int(C.nm_rx(p.id, p.rxBufs, p.rxData, p.rxLens, Burst))
	if n == 0 {
		return 0
	}
	data := unsafe.Slice(p.rxData, n)
	lens := unsafe.Slice(p.rxLens, n)
	for i := 0; i < n; i++ {
		fn(unsafe.Slice((*byte)(data[i]), int(lens[i])))
	}
	C.rte_pktmbuf_free_bulk(p.rxBufs, C.uint(n))
	return n
}

// Tx sends up to Burst frames; fill writes frame i into buf (at most
// len(buf) bytes) and returns its length. It returns how many the queue
// took; the rest were dropped (pool empty or queue full).
func (p *Port) Tx(n int, fill func(i int, buf []byte) int) int {
	n = min(n, Burst)
	if C.nm_tx_alloc(p.pool, p.txBufs, p.txData, p.txRoom, C.uint(n)) != 0 {
		return 0
	}
	data := unsafe.Slice(p.txData, n)
	room := unsafe.Slice(p.txRoom, n)
	lens := unsafe.Slice(p.txLens, n)
	for i := 0; i < n; i++ {
		lens[i] = C.uint16_t(fill(i, unsafe.Slice((*byte)(data[i]), int(room[i]))))
	}
	return int(C.nm_tx(p.id, p.txBufs, p.txLens, C.uint16_t(n)))
}

// WaitRx blocks until a frame may be waiting or timeoutMs passes, and
// returns false at once if the port has no rx interrupts. Call it only on
// the thread that opened the port (the epoll is per thread).
func (p *Port) WaitRx(timeoutMs int) bool {
	if !p.intr {
		return false
	}
	return C.nm_rx_wait(p.id, C.int(timeoutMs)) >= 0
}

// Close stops and closes the port. The poller must have stopped.
func (p *Port) Close() { C.nm_port_stop(p.id) }
