//go:build dpdk

package dpdkengine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/core/supervise"
	"github.com/netmodels/netmodels/impl-dpdk/internal/link"
	"github.com/netmodels/netmodels/impl-dpdk/internal/rte"
)

// The physical floor of a memif round trip on this machine (issue #18):
// two DPDK processes bounce one raw 64-byte Ethernet frame over net_memif,
// with no TCP stack, no Go scheduler hand-off and no engine between the
// port and the echo. What bin/dpdk's msgr ping-pong adds on top is gVisor,
// the messenger and the hand-offs between their goroutines.
//
//	go test -tags dpdk -run XXX -bench MemifFloor ./impl-dpdk
//
// Each process polls the way bin/dpdk's poller does (link.Poll): "spin"
// never sleeps; "adaptive" does what Adaptive does on one CPU (every
// placement here gives each process one): no spin, then nanosleep from
// the thread's sleep floor (link.SleepFloor) doubling to link.MaxSleep.
const floorEnv = "NETMODELS_DPDK_FLOOR" // role of a child: "server" or "client"

const (
	floorEcho   = 0x88b5 // IEEE local experimental EtherType: a ping
	floorStop   = 0x88b6 // ends the echo server
	floorFrame  = 64
	floorWarm   = 2000
	floorRounds = 20000
	// floorServe bounds an echo server that never hears its stop.
	floorServe = 60 * time.Second
)

// floorResult is the client's one-line JSON answer.
type floorResult struct {
	Rounds               int
	P50us, P99us, MeanUs float64
}

// runFloor runs a floor child: EAL on NETMODELS_DPDK_EAL, port 0, then
// the echo (server) or the measured ping-pong (client). It returns the
// exit status.
func runFloor(role string) int {
	runtime.LockOSThread() // EAL's lcore is this thread, and the timer slack below
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	if err := rte.EALInit(strings.Fields(os.Getenv("NETMODELS_DPDK_EAL"))); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return 1
	}
	defer rte.EALCleanup()
	port, err := rte.OpenPort(0, 4096, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return 1
	}
	defer port.Close()
	spin := os.Getenv(floorEnv+"_POLL") == "spin"
	if role == "server" {
		fmt.Println("READY")
		floorServeEcho(port, spin)
		return 0
	}
	for deadline := time.Now().Add(10 * time.Second); !port.LinkUp(); {
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "floor: memif link not up in 10 s")
			return 1
		}
		time.Sleep(time.Millisecond)
	}
	res, err := floorPingPong(port, spin)
	floorSend(port, floorStop)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return 1
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	return 0
}

// floorPoller polls port, waiting between empty polls as bin/dpdk's
// poller does on one CPU (link.Backoff from the sleep floor) unless spin.
type floorPoller struct {
	port  *rte.Port
	spin  bool
	floor time.Duration
}

// until polls until fn has seen a frame it wants (fn returns true) and
// reports whether one came before deadline.
func (p *floorPoller) until(deadline time.Time, fn func(frame []byte) bool) bool {
	got := false
	handle := func(frame []byte) { got = fn(frame) || got }
	var sleep link.Backoff
	sleep.Reset(p.floor)
	for polls := 0; ; polls++ {
		if p.port.Rx(handle) > 0 {
			if got {
				return true
			}
			sleep.Reset(p.floor)
			continue
		}
		if polls%1024 == 0 && time.Now().After(deadline) {
			return false
		}
		if !p.spin {
			sleep.Sleep()
		}
	}
}

// floorServeEcho sends every ping back until a stop frame or floorServe.
func floorServeEcho(port *rte.Port, spin bool) {
	p := &floorPoller{port: port, spin: spin, floor: link.SleepFloor()}
	var frame [floorFrame]byte
	p.until(time.Now().Add(floorServe), func(f []byte) bool {
		if len(f) < 14 {
			return false
		}
		switch uint16(f[12])<<8 | uint16(f[13]) {
		case floorStop:
			return true
		case floorEcho:
			n := copy(frame[:], f)
			port.Tx(1, func(_ int, buf []byte) int { return copy(buf, frame[:n]) })
		}
		return false
	})
}

// floorSend sends one frame of the given EtherType (addresses do not
// matter on a point-to-point memif).
func floorSend(port *rte.Port, etherType uint16) bool {
	return port.Tx(1, func(_ int, buf []byte) int {
		clear(buf[:floorFrame])
		buf[12], buf[13] = byte(etherType>>8), byte(etherType)
		return floorFrame
	}) == 1
}

// floorPingPong times floorRounds round trips after floorWarm unmeasured.
func floorPingPong(port *rte.Port, spin bool) (floorResult, error) {
	p := &floorPoller{port: port, spin: spin, floor: link.SleepFloor()}
	echo := func(f []byte) bool { return len(f) >= 14 && uint16(f[12])<<8|uint16(f[13]) == floorEcho }
	rtts := make([]time.Duration, 0, floorRounds)
	for i := range floorWarm + floorRounds {
		t0 := time.Now()
		if !floorSend(port, floorEcho) {
			return floorResult{}, fmt.Errorf("round %d: tx refused the frame", i)
		}
		if !p.until(t0.Add(time.Second), echo) {
			return floorResult{}, fmt.Errorf("round %d: no echo within 1 s", i)
		}
		if i >= floorWarm {
			rtts = append(rtts, time.Since(t0))
		}
	}
	var sum time.Duration
	for _, d := range rtts {
		sum += d
	}
	slices.Sort(rtts)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return floorResult{Rounds: len(rtts), P50us: us(rtts[len(rtts)/2]), P99us: us(rtts[len(rtts)*99/100]),
		MeanUs: us(sum / time.Duration(len(rtts)))}, nil
}

// BenchmarkMemifFloor reports the bare memif round trip (p50-µs, p99-µs;
// ns/op is the mean) for each placement and poll mode. pinned: both
// processes on one CPU; split: one CPU each (needs two).
func BenchmarkMemifFloor(b *testing.B) {
	last := strconv.Itoa(runtime.NumCPU() - 1)
	for _, pl := range []struct{ name, srv, cli string }{{"pinned", last, last}, {"split", last, "0"}} {
		for _, mode := range []string{"spin", "adaptive"} {
			b.Run(pl.name+"/"+mode, func(b *testing.B) {
				if pl.srv == pl.cli && mode == "spin" {
					b.Skip("two spinning pollers on one CPU only measure the scheduler's time slice")
				}
				if pl.name == "split" && runtime.NumCPU() < 2 {
					b.Skip("split needs two CPUs")
				}
				var res floorResult
				for range b.N {
					res = floorRun(b, pl.srv, pl.cli, mode)
				}
				b.ReportMetric(res.MeanUs*1000, "ns/op")
				b.ReportMetric(res.P50us, "p50-µs")
				b.ReportMetric(res.P99us, "p99-µs")
			})
		}
	}
}

// floorRun starts the echo server and the client on the given CPUs and
// returns the client's result.
func floorRun(b *testing.B, srvCPU, cliCPU, mode string) floorResult {
	b.Helper()
	sock := filepath.Join(b.TempDir(), "memif.sock")
	spec := func(name, role, prefix, cpu string) supervise.Spec {
		return supervise.Spec{Name: name, Path: os.Args[0], Env: []string{floorEnv + "=" + role, floorEnv + "_POLL=" + mode,
			"NETMODELS_DPDK_EAL=" + memifEAL(prefix, role, sock, cpu)}}
	}
	ss := spec("floor server", "server", "nmfs", srvCPU)
	ss.ReadyWord, ss.ReadyTimeout = "READY", 30*time.Second
	srv, err := supervise.Start(ss)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = srv.Stop() }()
	cli, err := supervise.Start(spec("floor client", "client", "nmfc", cliCPU))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cli.Wait(ctx); err != nil {
		b.Fatalf("floor client: %v\n%s\nserver stderr:\n%s", err, cli.Stderr(), srv.Stderr())
	}
	var res floorResult
	if err := json.Unmarshal([]byte(strings.TrimSpace(cli.Stdout())), &res); err != nil || res.Rounds != floorRounds {
		b.Fatalf("floor client output %q: %v", cli.Stdout(), err)
	}
	return res
}
