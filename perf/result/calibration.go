package result

import (
	"fmt"
	"time"
)

// CalibrationTolerance is how far (relative) two calibrations may differ
// before the report flags the run (start → end) or `perf compare` warns
// (one run → the other).
const CalibrationTolerance = 0.10

// Calibration is the machine's state at one moment of a run: the same
// fixed work timed at the start and at the end, so a reader sees whether
// the machine changed under the run and which kind of machine it was.
type Calibration struct {
	At time.Time `json:"at"`
	// CPUNsPerIter is a fixed CPU loop (SHA-256 of a 4 KiB block,
	// CPUIters times, on CPU) timed: nanoseconds per iteration, the
	// median of CPURounds rounds, by the wall clock: what a measurement
	// gets (slower when the CPU is shared with a neighbour or stolen).
	CPUNsPerIter float64 `json:"cpu_ns_per_iter"`
	// CPUOnCPUNsPerIter is the same loop by the thread's CPU clock: the
	// CPU's own speed (frequency, caches, a busy hyperthread sibling).
	CPUOnCPUNsPerIter float64 `json:"cpu_ns_per_iter_on_cpu"`
	CPUIters          int     `json:"cpu_iters"`
	CPURounds         int     `json:"cpu_rounds"`
	// TCPP50US is the raw TCP floor: p50 of a short 64 B ping-pong
	// (`perf loadgen pingpong`, one connection) against perf's own echo
	// server (`perf rawtcp-server`), both on CPU when CPU >= 0.
	TCPP50US      float64 `json:"tcp_pingpong_64b_p50_us"`
	TCPRoundTrips int64   `json:"tcp_round_trips"`
	// CPU is where the loop and the ping-pong ran (-1: not pinned).
	CPU int `json:"cpu"`
	// LoadAvg1 is the 1-minute load average when the calibration began.
	LoadAvg1 float64 `json:"loadavg1"`
	// StealPct is the share of all CPUs' time the hypervisor stole
	// during the calibration (/proc/stat), in %.
	StealPct float64 `json:"steal_pct"`
	Seconds  float64 `json:"seconds"`
	// Err says what could not be measured (its figure is then 0).
	Err string `json:"error,omitempty"`
}

// MachineState is the run's two calibrations and the CPU steal over the
// whole run (from the start calibration to the end one).
type MachineState struct {
	Start *Calibration `json:"start,omitempty"`
	End   *Calibration `json:"end,omitempty"`
	// RunStealPct is the share of all CPUs' time stolen by the
	// hypervisor between the two calibrations (/proc/stat), in %.
	RunStealPct float64 `json:"run_steal_pct"`
}

// CalibrationFigure is one calibrated quantity of two calibrations.
type CalibrationFigure struct {
	Name, Unit string
	A, B       float64
	// Diff is B/A - 1.
	Diff float64
}

// Moved reports whether the figure changed by more than the tolerance.
func (f CalibrationFigure) Moved() bool {
	return f.Diff > CalibrationTolerance || f.Diff < -CalibrationTolerance
}

func (f CalibrationFigure) String() string {
	return fmt.Sprintf("%s %.4g → %.4g %s (%+.1f %%)", f.Name, f.A, f.B, f.Unit, 100*f.Diff)
}

// CompareCalibrations pairs the figures both a and b measured (a figure
// that is 0 on either side was not measured).
func CompareCalibrations(a, b *Calibration) []CalibrationFigure {
	if a == nil || b == nil {
		return nil
	}
	var out []CalibrationFigure
	add := func(name, unit string, x, y float64) {
		if x > 0 && y > 0 {
			out = append(out, CalibrationFigure{Name: name, Unit: unit, A: x, B: y, Diff: y/x - 1})
		}
	}
	add("CPU loop", "ns/iter", a.CPUNsPerIter, b.CPUNsPerIter)
	add("raw TCP 64 B ping-pong p50", "µs", a.TCPP50US, b.TCPP50US)
	return out
}

// Moved lists the calibrated figures that changed by more than
// CalibrationTolerance from the start of the run to its end.
func (s *MachineState) Moved() []CalibrationFigure {
	if s == nil {
		return nil
	}
	var out []CalibrationFigure
	for _, f := range CompareCalibrations(s.Start, s.End) {
		if f.Moved() {
			out = append(out, f)
		}
	}
	return out
}

// Typical is the run's calibration for comparing it with another run:
// the mean of the start and end figures where both were measured, else
// whichever was.
func (s *MachineState) Typical() *Calibration {
	if s == nil {
		return nil
	}
	if s.Start == nil || s.End == nil {
		if s.Start != nil {
			return s.Start
		}
		return s.End
	}
	mean := func(x, y float64) float64 {
		switch {
		case x > 0 && y > 0:
			return (x + y) / 2
		case x > 0:
			return x
		}
		return y
	}
	return &Calibration{CPUNsPerIter: mean(s.Start.CPUNsPerIter, s.End.CPUNsPerIter), TCPP50US: mean(s.Start.TCPP50US, s.End.TCPP50US)}
}

// CalibrationDiffers lists the calibrated figures in which runs a and b
// differ by more than CalibrationTolerance (each run's Typical).
func CalibrationDiffers(a, b *Run) []CalibrationFigure {
	var out []CalibrationFigure
	for _, f := range CompareCalibrations(a.Calibration.Typical(), b.Calibration.Typical()) {
		if f.Moved() {
			out = append(out, f)
		}
	}
	return out
}
