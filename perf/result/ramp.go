package result

import "github.com/netmodels/netmodels/perf/stats"

// Ramp is a cell's latency against offered load (perf/bench ramp.go): an
// open-loop step at each fraction of the cell's closed-loop (probe) rate,
// from well below saturation to past it, the same steps every repetition.
type Ramp struct {
	// BoundUS is the p99 bound of the knee: the cell's knee_per_s metric
	// is, per repetition, the achieved rate where the steps' p99 crosses
	// BoundUS (perf/bench kneeOf).
	BoundUS float64 `json:"bound_us"`
	// Steps in increasing offered load; step i's Reps[j] is repetition j.
	Steps []RampStep `json:"steps"`
}

// RampStep is one offered load, over the repetitions.
type RampStep struct {
	// Fraction of the cell's closed-loop probe rate offered.
	Fraction float64 `json:"fraction"`
	// Reps hold offered_per_s, rate (achieved), p50_us, p90_us, p99_us,
	// p999_us, max_us, seconds, round_trips and done_of_due (round trips
	// over those the schedule made due) of each repetition's step.
	Reps    []Rep                    `json:"reps"`
	Summary map[string]stats.Summary `json:"summary,omitempty"`
	// Hist is the step's latency histogram (ns) merged over the
	// repetitions.
	Hist string `json:"hist,omitempty"`
}

// Summarize fills each step's Summary from its repetitions.
func (r *Ramp) Summarize(level float64) {
	for i := range r.Steps {
		c := Cell{Reps: r.Steps[i].Reps}
		c.Summarize(level)
		r.Steps[i].Summary = c.Summary
	}
}
