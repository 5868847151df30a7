package dpdkengine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/netmodels/netmodels/impl-dpdk/internal/link"
	"github.com/netmodels/netmodels/impl-dpdk/internal/rte"
)

// ErrNotBuilt says the binary lacks DPDK support.
var ErrNotBuilt = errors.New("dpdk: built without DPDK support (install libdpdk-dev and build with -tags dpdk)")

// mbufs is the mbuf pool size: the rx ring (1024) and tx ring (1024) plus
// bursts in flight; a full pool drops tx frames (counted).
const mbufs = 8191

// linkUpTimeout bounds the wait for the port's link (memif needs its peer).
const linkUpTimeout = 10 * time.Second

// dpdkRuntime is the EAL, port, poller and stack of the process. The
// poller goroutine is locked to the EAL thread for good: EAL pins it and
// keeps per-thread state there (lcore id, rte_errno).
type dpdkRuntime struct {
	ns   *Netstack
	ep   *link.Endpoint
	ctl  link.PollControl
	done chan struct{}
}

func startRuntime(o Options) (*dpdkRuntime, error) {
	if !rte.Available {
		return nil, ErrNotBuilt
	}
	r := &dpdkRuntime{done: make(chan struct{})}
	ready := make(chan error, 1)
	go r.main(o, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return r, nil
}

func (r *dpdkRuntime) main(o Options, ready chan<- error) {
	runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
	defer close(r.done)
	if !o.LogToStderr {
		rte.QuietLog()
	}
	if err := rte.EALInit(o.EAL); err != nil {
		ready <- fmt.Errorf("dpdk: EAL init %q: %w", o.EAL, err)
		return
	}
	if rte.PortCount() == 0 {
		rte.EALCleanup()
		ready <- fmt.Errorf("dpdk: no port after EAL init: vdev probe failed (root? /dev/net/tun? bad --vdev?); DPDK log: %s", rte.LastLog())
		return
	}
	mtu := o.MTU
	if mtu <= 0 {
		mtu = 1500
	}
	// The default MTU is left to the PMD (0): rte_eth_dev_set_mtu only
	// for jumbo frames.
	setMTU := 0
	if mtu != 1500 {
		setMTU = mtu
	}
	port, err := rte.OpenPort(0, mbufs, setMTU)
	if err != nil {
		rte.EALCleanup()
		ready <- fmt.Errorf("dpdk: port 0: %w", err)
		return
	}
	deadline := time.Now().Add(linkUpTimeout)
	for !o.NoLinkWait && !port.LinkUp() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	r.ep = link.New(port, uint32(mtu))
	ns, err := NewNetstack(r.ep, o.Addr, o.Gateway)
	if err != nil {
		port.Close()
		rte.EALCleanup()
		ready <- err
		return
	}
	r.ns = ns
	rte.SetTimerSlack(1000)
	ready <- nil
	r.ctl.SetMode(o.Poll)
	r.ep.Poll(&r.ctl)
	// Safe order: the poll loop has returned on this very thread.
	ns.Stack.Close()
	port.Close()
	rte.EALCleanup()
	removeRunDir(o.EAL)
}

// removeRunDir removes the empty /var/run/dpdk/<prefix> directory that
// EAL leaves even with --no-shconf, so runs do not pile them up.
func removeRunDir(eal []string) {
	for _, a := range eal {
		if p, ok := strings.CutPrefix(a, "--file-prefix="); ok && p != "" && !strings.Contains(p, "/") {
			_ = os.Remove(filepath.Join("/var/run/dpdk", p)) // fails harmlessly unless empty
		}
	}
}

func (r *dpdkRuntime) stop() {
	r.ctl.Stop.Store(true)
	<-r.done
}
