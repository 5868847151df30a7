package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/perf/loadgen"
	"github.com/netmodels/netmodels/perf/result"
)

// CalibSpec sizes the machine calibration taken at the start and the end
// of every run: a fixed CPU loop and the raw TCP ping-pong floor.
type CalibSpec struct {
	// CPUIters SHA-256 hashes of a 4 KiB block make one round; the
	// figure is the median round's time per hash.
	CPUIters, CPURounds int
	// PingPong is the raw TCP 64 B ping-pong's measured window, after
	// PingPongWarmup.
	PingPong, PingPongWarmup time.Duration
}

// DefaultCalib takes about 1 s per calibration on this 2-core VM (the
// loop 5 × 20,000 hashes ≈ 0.35 s, the ping-pong 0.1 + 0.4 s, process
// starts); SmokeCalib about 0.2 s.
var (
	DefaultCalib = CalibSpec{CPUIters: 20000, CPURounds: 5, PingPong: 400 * time.Millisecond, PingPongWarmup: 100 * time.Millisecond}
	SmokeCalib   = CalibSpec{CPUIters: 2000, CPURounds: 3, PingPong: 50 * time.Millisecond, PingPongWarmup: 20 * time.Millisecond}
)

func (s CalibSpec) orDefault() CalibSpec {
	if s.CPUIters <= 0 || s.CPURounds <= 0 || s.PingPong <= 0 {
		return DefaultCalib
	}
	return s
}

// cpuLoopBound stops the CPU loop early (fewer rounds) on a machine so
// slow or so loaded that it would take longer: the calibration stays
// bounded.
const cpuLoopBound = 5 * time.Second

// calibrate measures the machine's state now. Nothing in it fails the
// run: what could not be measured is said in Err.
func (r *runner) calibrate(ctx context.Context) *result.Calibration {
	spec := r.cfg.Suite.Calib.orDefault()
	pin := r.cfg.PinCPU
	c := &result.Calibration{At: time.Now().UTC(), CPU: pin, LoadAvg1: LoadAvg(), CPUIters: spec.CPUIters}
	st0, stErr := ReadCPUStat()
	t0 := time.Now()
	var errs []string
	ns, onCPU, rounds, err := cpuLoop(spec.CPUIters, spec.CPURounds, pin, cpuLoopBound)
	c.CPUNsPerIter, c.CPUOnCPUNsPerIter, c.CPURounds = ns, onCPU, rounds
	if err != nil {
		errs = append(errs, "CPU loop: "+err.Error())
	}
	if p50, n, err := r.tcpFloor(ctx, spec, pin); err != nil {
		errs = append(errs, "raw TCP ping-pong: "+err.Error())
	} else {
		c.TCPP50US, c.TCPRoundTrips = p50, n
	}
	c.Seconds = time.Since(t0).Seconds()
	if st1, err := ReadCPUStat(); err == nil && stErr == nil {
		c.StealPct = StealPct(st0, st1)
	}
	c.Err = strings.Join(errs, "; ")
	return c
}

// cpuLoop times rounds of iters SHA-256 hashes of a 4 KiB block on CPU
// pin (this goroutine's thread pinned for the time; pin < 0: anywhere)
// and returns the median round's nanoseconds per hash, wall clock (what
// a measurement gets: slower when the CPU is shared or stolen) and on
// the thread's CPU clock (the CPU's own speed), and the rounds done
// (fewer than asked when bound ran out).
func cpuLoop(iters, rounds, pin int, bound time.Duration) (wall, onCPU float64, done int, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if pin >= 0 {
		var old, set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &old); err == nil {
			set.Set(pin)
			if unix.SchedSetaffinity(0, &set) == nil {
				defer unix.SchedSetaffinity(0, &old)
			}
		}
	}
	var block [4096]byte
	for i := range block {
		block[i] = byte(i)
	}
	var sum [sha256.Size]byte
	var per, perCPU []float64
	start := time.Now()
	for range rounds {
		t, c := time.Now(), threadCPU()
		for range iters {
			sum = sha256.Sum256(block[:])
			block[0] = sum[0] // each hash depends on the last
		}
		per = append(per, float64(time.Since(t).Nanoseconds())/float64(iters))
		perCPU = append(perCPU, float64(threadCPU()-c)/float64(iters))
		if time.Since(start) > bound {
			break
		}
	}
	if len(per) == 0 {
		return 0, 0, 0, fmt.Errorf("no round")
	}
	slices.Sort(per)
	slices.Sort(perCPU)
	return per[len(per)/2], perCPU[len(perCPU)/2], len(per), nil
}

// threadCPU is the calling thread's CPU time in ns (0 if unreadable).
func threadCPU() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return ts.Nano()
}

// tcpFloor runs `perf loadgen pingpong --size 64` (one connection)
// against a fresh `perf rawtcp-server`, both on CPU pin, and returns the
// p50 in µs and the round trips measured.
func (r *runner) tcpFloor(ctx context.Context, spec CalibSpec, pin int) (float64, int64, error) {
	g := newRig()
	defer g.stop()
	if _, err := r.startRaw(g, pin); err != nil {
		return 0, 0, err
	}
	var res loadgen.Result
	argv := r.loadgenArgs("pingpong", "--addr", g.addr["echo"], "--conns", "1", "--size", "64",
		"--duration", spec.PingPong.String(), "--warmup", spec.PingPongWarmup.String())
	if _, err := r.runJSON(ctx, pin, argv, spec.PingPong+spec.PingPongWarmup+10*time.Second, &res); err != nil {
		return 0, 0, err
	}
	if res.Err != "" {
		return 0, 0, fmt.Errorf("%s", res.Err)
	}
	if res.Latency == nil || res.Ops == 0 {
		return 0, 0, fmt.Errorf("no round trip completed in %v", spec.PingPong)
	}
	return res.Latency.P50, res.Ops, nil
}

// CPUStat is the machine-wide "cpu" line of /proc/stat (USER_HZ ticks).
type CPUStat struct {
	Total, Steal uint64
}

// ReadCPUStat reads /proc/stat's aggregate CPU line.
func ReadCPUStat() (CPUStat, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUStat{}, err
	}
	return ParseCPUStat(string(b))
}

// ParseCPUStat parses the aggregate "cpu" line of a /proc/stat text:
// user nice system idle iowait irq softirq steal [guest guest_nice]. The
// guest fields are already counted in user and nice, so Total leaves
// them out.
func ParseCPUStat(text string) (CPUStat, error) {
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		if len(f) < 9 {
			return CPUStat{}, fmt.Errorf("/proc/stat: cpu line with %d fields, want 8 or more (steal is the 8th)", len(f)-1)
		}
		var st CPUStat
		for i, s := range f[1:9] {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return CPUStat{}, fmt.Errorf("/proc/stat: cpu field %d: %v", i+1, err)
			}
			st.Total += v
			if i == 7 {
				st.Steal = v
			}
		}
		return st, nil
	}
	return CPUStat{}, fmt.Errorf("/proc/stat: no aggregate cpu line")
}

// StealPct is the share of all CPUs' time stolen between a and b, in %.
func StealPct(a, b CPUStat) float64 {
	if b.Total <= a.Total || b.Steal < a.Steal {
		return 0
	}
	return 100 * float64(b.Steal-a.Steal) / float64(b.Total-a.Total)
}
