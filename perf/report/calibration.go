package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/netmodels/netmodels/perf/result"
)

// calibrationRows are the Run table's machine-state rows: both
// calibrations side by side, and the CPU steal.
func calibrationRows(run *result.Run) [][]string {
	s := run.Calibration
	if s == nil {
		return [][]string{{"calibration", "not recorded (run from before the calibration existed)"}}
	}
	where := "not pinned"
	if c := first(s.Start, s.End); c != nil && c.CPU >= 0 {
		where = fmt.Sprintf("on CPU %d", c.CPU)
	}
	rounds := "rounds"
	if c := first(s.Start, s.End); c != nil && c.CPUIters > 0 {
		rounds = fmt.Sprintf("%d rounds of %d hashes", c.CPURounds, c.CPUIters)
	}
	pair := func(f func(*result.Calibration) float64, unit string) string {
		a, b := calibValue(s.Start, f), calibValue(s.End, f)
		text := a + " → " + b + " " + unit
		if s.Start != nil && s.End != nil && f(s.Start) > 0 && f(s.End) > 0 {
			d := f(s.End)/f(s.Start) - 1
			text += fmt.Sprintf(" (%+.1f %%", 100*d)
			if d > result.CalibrationTolerance || d < -result.CalibrationTolerance {
				text += ", **moved more than 10 %**"
			}
			text += ")"
		}
		return text
	}
	rows := [][]string{
		{"calibration: CPU loop start → end", pair(func(c *result.Calibration) float64 { return c.CPUNsPerIter }, "ns per SHA-256 of 4 KiB") +
			fmt.Sprintf(" (median of %s, %s, wall clock; by the thread's CPU clock %s → %s, lower than the wall clock when the CPU was shared)",
				rounds, where, calibValue(s.Start, onCPU), calibValue(s.End, onCPU))},
		{"calibration: raw TCP 64 B ping-pong p50 start → end", pair(func(c *result.Calibration) float64 { return c.TCPP50US }, "µs") +
			fmt.Sprintf(" (perf loadgen against perf rawtcp-server, one connection, %s)", where)},
		{"CPU steal (hypervisor, /proc/stat)", fmt.Sprintf("%s during the start calibration, %s during the end one, %.2f %% over the run",
			stealText(s.Start), stealText(s.End), s.RunStealPct)},
	}
	var errs []string
	for _, c := range []struct {
		name string
		c    *result.Calibration
	}{{"start", s.Start}, {"end", s.End}} {
		if c.c != nil && c.c.Err != "" {
			errs = append(errs, c.name+": "+c.c.Err)
		}
	}
	if len(errs) > 0 {
		rows = append(rows, []string{"calibration not measured", strings.Join(errs, "; ")})
	}
	return rows
}

func onCPU(c *result.Calibration) float64 { return c.CPUOnCPUNsPerIter }

func first(cs ...*result.Calibration) *result.Calibration {
	for _, c := range cs {
		if c != nil {
			return c
		}
	}
	return nil
}

func calibValue(c *result.Calibration, f func(*result.Calibration) float64) string {
	if c == nil || f(c) <= 0 {
		return "–"
	}
	return num(f(c))
}

func stealText(c *result.Calibration) string {
	if c == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f %%", c.StealPct)
}

// calibrationWarning is the section at the top of a report whose machine
// changed under the run: a calibration moved by more than the tolerance
// between the start and the end.
func calibrationWarning(run *result.Run) *section {
	moved := run.Calibration.Moved()
	if len(moved) == 0 {
		return nil
	}
	var what []string
	for _, f := range moved {
		what = append(what, figureText(f))
	}
	return &section{level: 2, warn: true, title: "Warning: the machine changed during this run",
		paras: []string{fmt.Sprintf("The calibration moved by more than %.0f %% between the start and the end of the run: %s. "+
			"The machine's speed changed under the measurements (a neighbour, CPU steal, frequency), so cells measured early and late are not alike; "+
			"ratios within one scenario (its targets interleave) hold better than absolute numbers. See the calibration rows of the Run table.",
			100*result.CalibrationTolerance, strings.Join(what, "; "))}}
}

// WriteCalibrationWarning prints, before a comparison, whether the two
// runs' calibrations differ by more than the tolerance: then the runs
// come from machines (or moments) of different speed, and their absolute
// numbers do not compare.
func WriteCalibrationWarning(w io.Writer, old, new *result.Run) {
	if old.Calibration == nil || new.Calibration == nil {
		var which []string
		if old.Calibration == nil {
			which = append(which, old.ID)
		}
		if new.Calibration == nil {
			which = append(which, new.ID)
		}
		fmt.Fprintf(w, "Note: no calibration in %s: the machines' states cannot be compared.\n\n", strings.Join(which, " and "))
		return
	}
	diff := result.CalibrationDiffers(old, new)
	if len(diff) == 0 {
		return
	}
	var what []string
	for _, f := range diff {
		what = append(what, figureText(f))
	}
	fmt.Fprintf(w, "Warning: the two runs' calibrations differ by more than %.0f %% (mean of start and end, %s → %s): %s. "+
		"The machine was not in the same state: compare engine ÷ anchor ratios, not absolute numbers.\n\n",
		100*result.CalibrationTolerance, old.ID, new.ID, strings.Join(what, "; "))
}

func figureText(f result.CalibrationFigure) string {
	return fmt.Sprintf("%s %s → %s %s (%+.1f %%)", f.Name, num(f.A), num(f.B), f.Unit, 100*f.Diff)
}
