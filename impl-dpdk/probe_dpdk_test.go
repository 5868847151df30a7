//go:build dpdk

package dpdkengine

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Diagnostics for stalls under load (issue 16, ManySessions/Bulk64MiB
// failing on a loaded 2-core machine). With NETMODELS_DPDK_PROBE=1 the
// runtime's TCP protocol is built with a probe, and TestEngine/TestProxy
// log every 10 s: gVisor's TCP counters (retransmits, RTO firings), the
// link counters, every flow that has not advanced SND.UNA or RCV.NXT for
// 8 s (its sender/receiver state: RTO, SRTT, outstanding bytes, buffers,
// window), and every engine conn holding out-queue bytes or paused (with
// whether it is on its worker's ready list and gVisor's readiness). A conn
// with bytes queued, writable and not queued across snapshots would be a
// lost wake-up. Off by default: the probe copies the full TCP state per
// segment, and the lists below only grow (a diagnostic run is bounded).
var (
	probeMu   sync.Mutex
	probeLast = map[tcp.TCPEndpointID]*tcp.TCPEndpointState{} // gVisor allocates each
	probeProg = map[tcp.TCPEndpointID]time.Time{}             // last SndUna/RcvNxt advance
	probeSegs = map[tcp.TCPEndpointID]int{}                   // segments since then
)

var probeConns []*conn

func init() {
	if os.Getenv("NETMODELS_DPDK_PROBE") != "" {
		debugNewConn = func(c *conn) {
			probeMu.Lock()
			probeConns = append(probeConns, c)
			probeMu.Unlock()
		}
		debugTCPProbe = func(s *tcp.TCPEndpointState) {
			probeMu.Lock()
			old, ok := probeLast[s.ID]
			if !ok || old.Sender.SndUna != s.Sender.SndUna || old.Receiver.RcvNxt != s.Receiver.RcvNxt {
				probeProg[s.ID] = time.Now()
				probeSegs[s.ID] = 0
			}
			probeSegs[s.ID]++
			probeLast[s.ID] = s
			probeMu.Unlock()
		}
	}
}

// startProbe (diagnostics, NETMODELS_DPDK_PROBE=1): records gVisor's TCP
// state after every segment and, every period, logs the stack's TCP
// counters and the connections that have not seen a segment for a while
// with data outstanding or a small window.
func startProbe(t *testing.T, period time.Duration) {
	if os.Getenv("NETMODELS_DPDK_PROBE") == "" {
		return
	}
	ns, err := DefaultRuntime()
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		tk := time.NewTicker(period)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			st := ns.Stack.Stats().TCP
			ls := runtimeEndpoint().Stats()
			fmt.Fprintf(os.Stderr, "PROBE t=%s tcp: retrans=%d timeouts=%d fastretx=%d slowstartretx=%d sent=%d rcvd=%d cksum=%d invalid=%d resets=%d link=%+v\n",
				time.Since(start).Round(time.Second), st.Retransmits.Value(), st.Timeouts.Value(), st.FastRetransmit.Value(), st.SlowStartRetransmits.Value(),
				st.SegmentsSent.Value(), st.ValidSegmentsReceived.Value(), st.ChecksumErrors.Value(), st.InvalidSegmentsReceived.Value(), st.ResetsSent.Value(), ls)
			// The tap's kernel side: its tx_dropped are frames the kernel
			// sent toward the stack that found the tap's queue full.
			if out, err := exec.Command("ip", "-s", "link", "show", "dev", tapName).CombinedOutput(); err == nil {
				fmt.Fprintf(os.Stderr, "PROBE tap: %s\n", strings.Join(strings.Fields(string(out)), " "))
			}
			now := ns.Stack.Clock().NowMonotonic()
			probeMu.Lock()
			var lines []string
			for id, s := range probeLast {
				age := now.Sub(s.SegTime)
				stuck := time.Since(probeProg[id])
				if stuck < 8*time.Second {
					continue
				}
				sn := s.Sender
				wnd := s.Receiver.RcvNxt.Size(s.Receiver.RcvAcc)
				lines = append(lines, fmt.Sprintf("  %d->%d noprogress=%s segs=%d age=%s sndUna=%d sndNxt=%d(+%d) sndWnd=%d cwnd=%d ssth=%d rto=%s srtt=%s outst=%d sndBufUsed=%d/%d rcvNxt=%d rcvWnd=%d rcvBufUsed=%d pend=%d fr=%v",
					id.LocalPort, id.RemotePort, stuck.Round(time.Second), probeSegs[id], age.Round(time.Millisecond), sn.SndUna, sn.SndNxt, sn.SndUna.Size(sn.SndNxt), sn.SndWnd, sn.SndCwnd, sn.Ssthresh, sn.RTO, sn.RTTState.SRTT, sn.Outstanding,
					s.SndBufState.SndBufUsed, s.SndBufState.SndBufSize, s.Receiver.RcvNxt, wnd, s.RcvBufState.RcvBufUsed, s.Receiver.PendingBufUsed, sn.FastRecovery.Active))
			}
			probeMu.Unlock()
			for _, c := range probeConns {
				if c.Closed() {
					continue
				}
				c.mu.Lock()
				oq, held := c.out.Len(), c.held
				c.mu.Unlock()
				if oq == 0 && !c.paused.Load() {
					continue
				}
				lp, rp := 0, 0
				if a := c.local.Load(); a != nil {
					lp = a.Port
				}
				if a := c.remote.Load(); a != nil {
					rp = a.Port
				}
				lines = append(lines, fmt.Sprintf("  ENGINE %d->%d outq=%d held=%v paused=%v queued=%v writable=%#x readable=%#x", lp, rp, oq, held, c.paused.Load(), c.queued.Load(),
					c.ep.Readiness(waiter.WritableEvents), c.ep.Readiness(waiter.ReadableEvents)))
			}
			sort.Strings(lines)
			for _, l := range lines {
				fmt.Fprintln(os.Stderr, l)
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}
