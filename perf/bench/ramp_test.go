package bench

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/perf/result"
	"github.com/netmodels/netmodels/perf/stats"
)

func TestPlanRamp(t *testing.T) {
	ms := time.Millisecond
	spec := RampSpec{Fractions: []float64{0.1, 0.5, 1.0, 1.2}, Samples: 1000, MinStep: 50 * ms, MaxStep: 500 * ms}
	for _, tc := range []struct {
		name string
		sat  float64
		spec RampSpec
		want []rampStep
		err  string
	}{
		// 1000 round trips at 2000/s take 500 ms, at 10,000/s 100 ms, at
		// 20,000/s 50 ms; 24,000/s would take 41.7 ms: the floor.
		{name: "count-based, clamped below", sat: 20000, spec: spec, want: []rampStep{
			{0.1, 2000, 500 * ms}, {0.5, 10000, 100 * ms}, {1.0, 20000, 50 * ms}, {1.2, 24000, 50 * ms}}},
		// A slow target: 1000 round trips at 100/s would take 10 s.
		{name: "clamped above", sat: 1000, spec: spec, want: []rampStep{
			{0.1, 100, 500 * ms}, {0.5, 500, 500 * ms}, {1.0, 1000, 500 * ms}, {1.2, 1200, 500 * ms}}},
		{name: "rounded to the millisecond", sat: 3000, spec: RampSpec{Fractions: []float64{1}, Samples: 1000, MinStep: ms, MaxStep: time.Second},
			want: []rampStep{{1, 3000, 333 * ms}}},
		{name: "default tenths", sat: 25000, spec: DefaultRamp, want: nil},
		{name: "zero probe", sat: 0, spec: spec, err: "nothing to scale"},
		{name: "NaN probe", sat: nan(), spec: spec, err: "nothing to scale"},
		{name: "fractions not increasing", sat: 1000, spec: RampSpec{Fractions: []float64{0.2, 0.1}, Samples: 1, MinStep: ms, MaxStep: ms}, err: "increasing"},
		{name: "no samples", sat: 1000, spec: RampSpec{Fractions: []float64{0.1}, MinStep: ms, MaxStep: ms}, err: "bad spec"},
		{name: "min above max", sat: 1000, spec: RampSpec{Fractions: []float64{0.1}, Samples: 1, MinStep: 2 * ms, MaxStep: ms}, err: "bad spec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := planRamp(tc.sat, tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil { // the default plan: 12 steps, 10 % to 120 %
				if len(got) != 12 || got[0].frac != 0.1 || got[11].frac != 1.2 {
					t.Fatalf("default plan %+v", got)
				}
				var total time.Duration
				for _, s := range got {
					total += s.dur
				}
				// The budget the note and the suite's figures rest on.
				if total < 600*ms || total > 700*ms {
					t.Fatalf("default steps at 25,000/s take %v, want 0.6-0.7 s", total)
				}
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if g.frac != w.frac || g.dur != w.dur || g.offered < w.offered*0.999999 || g.offered > w.offered*1.000001 {
					t.Fatalf("step %d: got %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }

func TestKneeOf(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pts       []rampPoint
		bound     float64
		rate, p99 float64
		ok        bool
	}{
		// Between 4000/s (p99 300) and 4200/s (p99 5000): ln(1000/300) /
		// ln(5000/300) = 0.4286 of the way.
		{name: "rises past the bound", bound: 1000,
			pts:  []rampPoint{{1000, 40}, {2000, 45}, {3000, 60}, {4000, 300}, {4200, 5000}, {4200, 20000}},
			rate: 4000 + 200*math.Log(1000.0/300)/math.Log(5000.0/300), p99: 300, ok: true},
		// The last step under the bound: nothing above to interpolate to.
		{name: "never crosses", bound: 1000,
			pts:  []rampPoint{{1000, 40}, {2000, 45}},
			rate: 2000, p99: 45, ok: true},
		{name: "exactly at the bound counts", bound: 1000,
			pts:  []rampPoint{{1000, 40}, {2000, 1000}, {2100, 1001}},
			rate: 2000, p99: 1000, ok: true},
		// Past saturation the next step achieved no more: no
		// interpolation toward a lower rate.
		{name: "next step achieved less", bound: 1000,
			pts:  []rampPoint{{1000, 40}, {2000, 100}, {1900, 8000}},
			rate: 2000, p99: 100, ok: true},
		// A stall that lifts one low step does not cut the knee there.
		{name: "isolated excursion below", bound: 1000,
			pts:  []rampPoint{{1000, 40}, {2000, 3000}, {3000, 60}, {3500, 4000}},
			rate: 3000 + 500*math.Log(1000.0/60)/math.Log(4000.0/60), p99: 60, ok: true},
		// Past saturation the achieved rate can fall below an earlier
		// step's: the knee is the highest achieved rate, not the last step.
		{name: "achieved falls past saturation", bound: 1000,
			pts:  []rampPoint{{1000, 40}, {5000, 200}, {4800, 900}, {4000, 50000}},
			rate: 5000, p99: 200, ok: true},
		{name: "none under the bound", bound: 100,
			pts: []rampPoint{{1000, 400}, {2000, 500}}, ok: false},
		{name: "no steps", bound: 100, ok: false},
		{name: "zero achieved is no step", bound: 100, pts: []rampPoint{{0, 10}}, ok: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rate, p99, ok := kneeOf(tc.pts, tc.bound)
			if ok != tc.ok || math.Abs(rate-tc.rate) > 1e-9*tc.rate || p99 != tc.p99 {
				t.Fatalf("kneeOf = %v, %v, %v; want %v, %v, %v", rate, p99, ok, tc.rate, tc.p99, tc.ok)
			}
		})
	}
}

// The runner adds each repetition's steps under the cell's Ramp, one Rep
// per repetition and a histogram merged over them, and summarizes them.
func TestAddRampMergesRepetitions(t *testing.T) {
	hist := func(us ...int) string {
		h := stats.NewLatencyHist()
		for _, u := range us {
			stats.RecordLatency(h, time.Duration(u)*time.Microsecond)
		}
		s, err := stats.EncodeHist(h)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cr := &cellRun{cell: &result.Cell{}}
	for rep := 0; rep < 3; rep++ {
		rr := &rampRep{boundUS: 1000}
		for i, f := range []float64{0.5, 1.0} {
			rr.steps = append(rr.steps, rampStepSample{frac: f, hist: hist(10*(i+1), 20*(i+1)),
				metrics: map[string]float64{"rate": float64(1000*(i+1) + rep), "p99_us": float64(20 * (i + 1))}})
		}
		cr.addRamp(rr)
	}
	cr.addRamp(nil) // a repetition of another kind: nothing
	rp := cr.cell.Ramp
	if rp == nil || rp.BoundUS != 1000 || len(rp.Steps) != 2 {
		t.Fatalf("ramp %+v", rp)
	}
	rp.Summarize(0.95)
	for i, st := range rp.Steps {
		if len(st.Reps) != 3 {
			t.Fatalf("step %d: %d reps", i, len(st.Reps))
		}
		h, err := stats.DecodeHist(st.Hist)
		if err != nil || h.TotalCount() != 6 {
			t.Fatalf("step %d: merged hist %v %v", i, h, err)
		}
		if got, want := st.Summary["rate"].Median, float64(1000*(i+1)+1); got != want {
			t.Fatalf("step %d: median rate %v, want %v", i, got, want)
		}
	}
}

// A ramp through the runner: the raw-tcp anchor with the real load
// generator, the fake engine's msgr-client (every step: 2000/s achieved,
// p99 60 µs). run.json holds every step of every repetition, and each
// repetition's knee is the one its own steps give. Nothing here judges
// speed: the raw anchor's knee may be anything the machine allows.
func TestRunnerRamp(t *testing.T) {
	dir, self, bin := harnessDir(t, map[string]string{"fake": fakeEngine})
	ms := time.Millisecond
	// Three repetitions of the ramp in a suite of two (RampSpec.Reps).
	spec := RampSpec{Fractions: []float64{0.5, 1.0, 1.5}, Samples: 50, MinStep: 10 * ms, MaxStep: 30 * ms, Probe: 30 * ms, Probes: 2, StepWarmup: 5 * ms, Reps: 3}
	suite := Suite{Name: "test", Reps: 2, Warmup: 10 * time.Millisecond, Duration: 50 * time.Millisecond, ScaleConns: 10,
		Scenarios: []string{"msgr-ramp-4KiB"}, Calib: SmokeCalib, Ramp: spec}
	cfg := Config{Suite: suite, BinDir: bin, Engines: []string{"fake"}, ClientEngine: "fake", Self: self, PinCPU: -1, WorkDir: dir}
	t0 := time.Now()
	run, err := Run(context.Background(), cfg, ".")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run took %v (calibrations %.2f s + %.2f s)", time.Since(t0), run.Calibration.Start.Seconds, run.Calibration.End.Seconds)
	path := filepath.Join(dir, "run.json")
	if err := run.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := result.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := back.Scenario("msgr-ramp-4KiB")
	if sc == nil {
		t.Fatal("no msgr-ramp-4KiB")
	}
	for _, target := range []string{RawTCP, "fake"} {
		c := sc.Cell(target)
		if c == nil || c.Status != result.StatusOK || len(c.Reps) != spec.Reps || c.Ramp == nil || len(c.Ramp.Steps) != 3 || c.Ramp.BoundUS != msgrRampBoundUS {
			t.Fatalf("%s cell: %+v", target, c)
		}
		for i, st := range c.Ramp.Steps {
			if st.Fraction != spec.Fractions[i] || len(st.Reps) != spec.Reps || st.Hist == "" || st.Summary["p99_us"].N != spec.Reps {
				t.Fatalf("%s step %d: %+v", target, i, st)
			}
		}
		// One probe per cell: every repetition offers the same rates.
		if p0, p1 := c.Reps[0].Metrics["probe_per_s"], c.Reps[1].Metrics["probe_per_s"]; !(p0 > 0) || p0 != p1 {
			t.Fatalf("%s: probe rates %v and %v, want one positive rate for the cell", target, p0, p1)
		}
		for rep := range c.Reps {
			var pts []rampPoint
			for _, st := range c.Ramp.Steps {
				m := st.Reps[rep].Metrics
				if want := st.Fraction * c.Reps[rep].Metrics["probe_per_s"]; math.Abs(m["offered_per_s"]-want) > 1e-6*want {
					t.Fatalf("%s rep %d: offered %v, want %v", target, rep, m["offered_per_s"], want)
				}
				if stepRan(m) {
					pts = append(pts, rampPoint{m["rate"], m["p99_us"]})
				}
			}
			// On a loaded machine the raw anchor's steps may fall short
			// of 100 round trips: then that repetition has no knee.
			got, has := c.Reps[rep].Metrics["knee_per_s"]
			if len(pts) == 0 {
				if has {
					t.Fatalf("%s rep %d: knee %v with no step that ran", target, rep, got)
				}
				continue
			}
			if knee, _, _ := kneeOf(pts, msgrRampBoundUS); !has || got != knee {
				t.Fatalf("%s rep %d: knee %v (%v), its steps give %v", target, rep, got, has, knee)
			}
		}
		t.Logf("%s: %.2f s", target, c.Seconds)
	}
	// The fake client completes 100 round trips every step, at
	// 2000/s and p99 60 µs.
	if k := sc.Cell("fake").Summary["knee_per_s"]; k.N != spec.Reps || k.Median != 2000 {
		t.Fatalf("fake knee %v, want 2000 (every step 2000/s at p99 60 µs)", k)
	}
}

func TestStepRan(t *testing.T) {
	for _, tc := range []struct {
		m    map[string]float64
		want bool
	}{
		{map[string]float64{"done_of_due": 1.0, "round_trips": 500}, true},
		{map[string]float64{"done_of_due": 0.98, "round_trips": 490}, true}, // the pacer entered its window a little late
		{map[string]float64{"done_of_due": 0.5, "round_trips": 100}, true},
		{map[string]float64{"done_of_due": 0.01, "round_trips": 1}, false}, // one round trip of the 100 due
		{map[string]float64{"done_of_due": 14, "round_trips": 1}, false},   // a starved probe: 1 due at 0.5/s, 1 done
		{map[string]float64{"done_of_due": 1, "round_trips": 99}, false},
		{map[string]float64{}, false},
	} {
		if got := stepRan(tc.m); got != tc.want {
			t.Errorf("stepRan(%v) = %v, want %v", tc.m, got, tc.want)
		}
	}
}
