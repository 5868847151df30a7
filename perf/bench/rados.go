package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/peers"
	"github.com/netmodels/netmodels/core/supervise"
	"github.com/netmodels/netmodels/perf/anchor"
	"github.com/netmodels/netmodels/perf/result"
)

// CephOSD is the anchor of msgr-rados: the real OSD, storing every write.
const CephOSD = "ceph-osd"

// msgr-rados' load: librados' own benchmark, 4 KiB writes 16 in flight.
const (
	radosDepth     = 16
	radosWriteSize = 4096
)

// radosNoDPDK is why bin/dpdk has no msgr-rados cell.
const radosNoDPDK = "librados dials the address a real ceph-osd registered in the OSD map, a kernel address; bin/dpdk's address belongs to its userspace stack, so it cannot stand in for the OSD (as in the conformance case interop-rados-bench)"

// radosCluster is msgr-rados' ceph-mon and ceph-osd, shared by its
// targets: started by the first target's setup (the anchor's, which runs
// first), the OSD killed once the anchor is done, so that each engine's
// fake OSD can take over its address and nonce in turn; stopped by the
// scenario's teardown. A start that failed fails every later setup with
// the same error: the scenario fails loudly, it is not skipped.
type radosCluster struct {
	dir string // the cluster's files, in the run's work folder

	mu    sync.Mutex
	tried bool
	err   error
	cl    *peers.OSDCluster
	osd   *peers.CephOSD // cl.OSD
}

// up starts the cluster on first use.
func (c *radosCluster) up() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.tried {
		c.tried = true
		c.cl, c.err = c.start()
		if c.err == nil {
			c.osd = c.cl.OSD
		}
	}
	return c.err
}

// start makes the cluster, a second time from scratch (new folder, new
// mon port) if the first start fails for another reason than a missing
// program: a fresh ceph-osd sometimes exits at once with "wrong fsid"
// (shared/peers/ceph-osd.md).
func (c *radosCluster) start() (*peers.OSDCluster, error) {
	cl, err := c.startOnce()
	if err != nil && !errors.Is(err, peers.ErrNotInstalled) {
		var err2 error
		if cl, err2 = c.startOnce(); err2 != nil {
			err = errors.Join(err, err2)
		} else {
			err = nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ceph cluster for msgr-rados (ceph-mon, ceph-osd, rados; `make deps` installs them): %w", err)
	}
	return cl, nil
}

func (c *radosCluster) startOnce() (*peers.OSDCluster, error) {
	// Short: the admin sockets' paths must fit in 107 bytes.
	dir, err := os.MkdirTemp(c.dir, "ceph-osd-")
	if err != nil {
		return nil, err
	}
	return anchor.StartCephOSD(dir)
}

// osdKiller is the anchor rig's stopper: the real OSD is killed, not
// stopped, when the anchor is done (peers.OSDCluster.Vacate).
type osdKiller struct{ c *radosCluster }

func (k osdKiller) Stop() error {
	k.c.cl.Vacate()
	return nil
}

// teardown stops the cluster.
func (c *radosCluster) teardown() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cl == nil {
		return nil
	}
	if err := c.cl.Stop(); err != nil {
		return []error{fmt.Errorf("msgr-rados: %w", err)}
	}
	return nil
}

// osdRig: the real ceph-osd is the measured process.
func (c *radosCluster) osdRig(int) (*rig, error) {
	if err := c.up(); err != nil {
		return nil, err
	}
	if c.cl.Vacated() {
		return nil, fmt.Errorf("the real ceph-osd was already killed for the fake OSDs")
	}
	g := newRig()
	g.add(osdKiller{c})
	g.measured = c.osd.Proc
	g.server = "ceph-osd -f (memstore, msgr1, auth none; pool bench: 8 PGs, size 1)"
	g.radosCleanup = true
	return g, nil
}

// fakeOSDRig kills the real OSD (once) and starts the engine's fake OSD
// at its OSD-map address with its nonce: librados reaches it as the OSD.
func (r *runner) fakeOSDRig(c *radosCluster, engine string, pin int) (*rig, error) {
	if err := c.up(); err != nil {
		return nil, err
	}
	c.cl.Vacate()
	g := newRig()
	nonce := strconv.FormatUint(uint64(c.osd.Nonce), 10)
	argv := []string{r.engineBin(engine), "msgr-server", "--listen", c.osd.Addr, "--reply", "osd", "--nonce", nonce}
	p, err := r.startEngine(g, engine+" msgr-server", argv, pin, nil)
	if err != nil {
		g.stop()
		return nil, err
	}
	g.add(p)
	g.measured = p
	g.server = engine + " msgr-server --listen OSD_ADDR --reply osd --nonce OSD_NONCE (the real OSD's, from the OSD map)"
	return g, nil
}

// radosSeconds is a repetition's `rados bench` length: rados counts whole
// seconds, so the suite's repetition rounded up (the default suite's
// 0.5 s gives 1 s).
func radosSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// radosLoad runs one `rados bench` against the cluster's OSD (real or
// fake): writes only, --no-cleanup, so the repetition measures the same
// client work on every row and nothing else. The measured process's CPU
// is read around the bench alone; on the real OSD the objects written are
// then removed (`rados cleanup`, not measured), so each of its
// repetitions starts from an empty pool as a fake OSD, which stores
// nothing, always does.
func (r *runner) radosLoad(c *radosCluster) func(context.Context, *rig, int, bool) (sample, error) {
	return func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
		secs := radosSeconds(r.cfg.Suite.Duration)
		if warm {
			secs = 1
		}
		u0, err := g.measured.Usage()
		if err != nil {
			return sample{}, fmt.Errorf("%s exited: %s", g.measured.Name, g.measured.Stderr())
		}
		res, err := c.rados(ctx, pin, time.Duration(secs)*time.Second+90*time.Second, "bench", "-p", c.osd.Pool, strconv.Itoa(secs), "write",
			"-t", strconv.Itoa(radosDepth), "-b", strconv.Itoa(radosWriteSize), "--no-cleanup")
		u1, uerr := g.measured.Usage()
		if err != nil {
			return sample{}, fmt.Errorf("%w; %s said: %s", err, g.measured.Name, supervise.Gist(g.measured.Stderr()))
		}
		if uerr != nil {
			return sample{}, fmt.Errorf("%s exited during rados bench: %s", g.measured.Name, g.measured.Stderr())
		}
		sum, err := parseRadosBench(res.Stdout)
		if err != nil {
			return sample{}, err
		}
		if g.radosCleanup {
			if _, err := c.rados(ctx, pin, 5*time.Minute, "-p", c.osd.Pool, "cleanup"); err != nil {
				return sample{}, fmt.Errorf("removing the objects written: %w", err)
			}
		}
		s := radosSample(sum, res)
		cpu := supervise.CPUDelta(u0, u1)
		s.serverCPU = &cpu
		return s, nil
	}
}

// radosSample turns rados' summary into a sample: ops/s and the latency
// figures it prints (µs), the writes as the units CPU per op divides by.
// client_cores is rados' CPU over its whole life (startup included: the
// bench's own seconds are not when its threads started).
func radosSample(sum radosSummary, res supervise.Result) sample {
	s := sample{metrics: map[string]float64{
		"rate": sum.IOPS, "lat_avg_us": sum.AvgLatS * 1e6, "lat_stddev_us": sum.StddevLatS * 1e6,
		"lat_max_us": sum.MaxLatS * 1e6, "lat_min_us": sum.MinLatS * 1e6,
	}, units: float64(sum.Writes), bytes: float64(sum.Writes * sum.WriteSize), seconds: sum.Seconds}
	if res.Elapsed > 0 {
		s.metrics["client_cores"] = res.CPU.Seconds() / res.Elapsed.Seconds()
	}
	return s
}

// rados runs the rados command against the cluster, pinned to pin when
// >= 0, bounded by d; a non-zero exit is an error with its stderr.
func (c *radosCluster) rados(ctx context.Context, pin int, d time.Duration, args ...string) (supervise.Result, error) {
	bin, err := peers.RadosBinary()
	if err != nil {
		return supervise.Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	// A lost reply fails the op after 30 s (librados waits forever by
	// default) with librados' own error, not the bound's.
	argv := append([]string{"-c", c.cl.Mon.ConfPath, "--rados-osd-op-timeout", "30"}, args...)
	res, err := supervise.Run(ctx, supervise.Spec{Name: "rados " + args[0], Path: bin, Args: argv, CPUs: anchor.CPUs(pin), Capture: jsonCapture})
	if err == nil && res.Code != 0 {
		err = fmt.Errorf("exit status %d: %s", res.Code, supervise.Gist(res.Stderr))
	}
	if err != nil {
		return res, fmt.Errorf("rados %s: %w", strings.Join(args, " "), err)
	}
	return res, nil
}

var (
	mOps      = result.MetricDef{Name: "rate", Unit: "op/s", Headline: true}
	mLatAvg   = result.MetricDef{Name: "lat_avg_us", Unit: "µs", Lower: true}
	mLatSD    = result.MetricDef{Name: "lat_stddev_us", Unit: "µs", Lower: true}
	mLatMax   = result.MetricDef{Name: "lat_max_us", Unit: "µs", Lower: true}
	mLatMin   = result.MetricDef{Name: "lat_min_us", Unit: "µs", Lower: true}
	mCPUOp    = result.MetricDef{Name: "server_cpu_us_per_msg", Unit: "CPU-µs/op", Lower: true, Headline: true}
	radosArgs = fmt.Sprintf("rados bench -p bench SECONDS write -t %d -b %d --no-cleanup", radosDepth, radosWriteSize)
)

// radosScenario: librados (`rados bench`) writing 4 KiB objects, 16 in
// flight, to one OSD: the real ceph-osd first (the anchor, run whole
// before the others), then every kernel engine's fake OSD in its place.
func (r *runner) radosScenario() *scenarioDef {
	c := &radosCluster{dir: r.cfg.WorkDir}
	ts := []target{{name: CephOSD, kind: result.KindAnchor, driver: radosArgs, first: true, setup: c.osdRig, load: r.radosLoad(c)}}
	ts = append(ts, r.engineTargets(radosArgs, func(e string, pin int) (*rig, error) { return r.fakeOSDRig(c, e, pin) }, r.radosLoad(c), radosNoDPDK)...)
	for i := range ts {
		if Userspace(ts[i].name) {
			ts[i].absent = radosNoDPDK
		}
	}
	secs := radosSeconds(r.cfg.Suite.Duration)
	return &scenarioDef{unit: perMsg, exclusive: true, teardown: c.teardown, targets: ts, res: result.Scenario{
		ID:    "msgr-rados-4KiB-t16",
		Group: "messenger",
		Title: fmt.Sprintf("librados (rados bench) writing 4 KiB objects, 16 in flight, %d s per repetition, to one OSD: the engines' fake OSD, and the real ceph-osd beside them, unpinned", secs),
		Params: map[string]string{"size": strconv.Itoa(radosWriteSize), "depth": strconv.Itoa(radosDepth), "seconds": strconv.Itoa(secs),
			"client": radosArgs},
		Metrics: []result.MetricDef{mOps, mLatAvg, mLatSD, mLatMax, mLatMin, mCPUOp, mCores, mPeakRSS, mClient},
		Note: "The client is Ceph's own: `" + radosArgs + "` (librados, Ceph 16), against a cluster of one ceph-mon and one OSD, the OSD map's only one. " +
			"Engines: `msgr-server --reply osd` (spec/messenger.md, Fake OSD) at the real OSD's address and nonce, killed first so that it stays up in the OSD map; it acknowledges each write and stores nothing. " +
			"ceph-osd (anchor) is the real OSD on memstore, and NOT the same work: it stores every write (object, attributes, PG log) and runs Ceph's op queue and PG machinery, so it is shown beside the engines, not divided by. " +
			"Only one server can hold the OSD's address: ceph-osd runs all its repetitions first on one process (each followed by an unmeasured `rados cleanup`, so each starts from an empty pool), then it is killed and the engines take turns repetition by repetition, each engine's server a fresh process for each turn (its warm-up ran on another one, so an engine's repetitions include a Go process's first seconds; the anchor's do not). " +
			"rados reports no percentiles: the latencies are its average, standard deviation, maximum and minimum; the rate is its writes ÷ its time run (Average IOPS before rounding). " +
			"CPU per op is the server's CPU over the bench (a fresh rados process each time: its connection setup included) ÷ the writes, and server_cores that CPU ÷ rados' time run, which excludes its start (slightly high, most for the OSD's idle threads); client_cores is rados' own CPU over its life. rados runs with --rados-osd-op-timeout 30: a lost reply fails the cell. dpdk cannot stand in for the OSD (absent).",
	}}
}
