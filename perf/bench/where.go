package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/netmodels/netmodels/perf/cpuprof"
	"github.com/netmodels/netmodels/perf/procstat"
	"github.com/netmodels/netmodels/perf/result"
)

// Where the time goes (issue 17). In the headline scenarios:
//
//   - every target's measured process has its utime and stime read from
//     /proc/<pid>/stat around each repetition (result.MetricUserS and
//     MetricSysS): the kernel/user split;
//   - every Go target (an engine binary, bin/dpdk included; not the
//     anchors) runs with core/cli's measured-window protocol
//     (NETMODELS_WINDOW=stdin): each repetition is one window, whose
//     runtime/metrics allocation counters give heap bytes and objects per
//     unit; the middle repetition's window also writes a CPU profile at
//     profileHZ, classified at the end of the cell (result.Profile) and
//     kept for the flame graph when Config.ProfileDir is set.
//
// Off elsewhere: the other scenarios' processes start as before.

// windowEnv is core/cli's WindowEnv (the harness imports no engine code).
const windowEnv = "NETMODELS_WINDOW"

// profileHZ is the profiled repetition's sampling rate asked for: a 0.5 s
// repetition of a server at 0.3 cores would hold 150 samples at 1 kHz (15
// at runtime/pprof's 100 Hz). Linux checks a thread's CPU-time timer at
// its scheduler tick, so a thread yields at most one sample per tick and
// the samples come slower than asked (here about 1 in 6: 76 samples for
// 0.46 CPU-s): each is still a sample of where the CPU went, so the class
// shares stand, but the pprof file's milliseconds are not CPU time (the
// report uses shares and prints the sample count). A sample costs the
// sampled thread a signal and a stack walk, a few µs, in that repetition
// only.
const profileHZ = 1000

// windowTimeout bounds the wait for a window answer (the process answers
// at once; a frozen or wedged one fails the window, not the cell).
const windowTimeout = 10 * time.Second

// profileRep is the repetition whose window is profiled: the middle one,
// away from the first repetition's leftovers of the warm-up.
func profileRep(reps int) int { return reps / 2 }

// windowCounters is a window's growth of the Go runtime's counters.
type windowCounters struct {
	allocBytes, allocObjects, gcCycles float64
	// goroutines started; hasGoroutines is false for a binary whose
	// answer lacks the counter (built before it).
	goroutines    float64
	hasGoroutines bool
}

// windowCmd sends one window command to the measured process and waits
// for its answer ("WINDOW SEQ ..." on stderr).
func (g *rig) windowCmd(cmd string) (string, error) {
	g.windowSeq++
	want := fmt.Sprintf("WINDOW %d ", g.windowSeq)
	if err := g.measured.WriteStdin([]byte(cmd + "\n")); err != nil {
		return "", err
	}
	var ans string
	err := g.measured.WaitFor("its answer to window command "+strconv.Quote(cmd), windowTimeout, func() (bool, error) {
		s := g.measured.Stderr()
		i := strings.LastIndex(s, want)
		if i < 0 {
			return false, nil
		}
		line, _, whole := strings.Cut(s[i+len(want):], "\n")
		ans = line
		return whole, nil
	})
	if err != nil {
		return "", err
	}
	if msg, ok := strings.CutPrefix(ans, "error "); ok {
		return "", fmt.Errorf("%s: window %q: %s", g.measured.Name, cmd, msg)
	}
	return ans, nil
}

// openWindow opens the measured process's window, with a CPU profile into
// profile when set.
func (g *rig) openWindow(profile string) error {
	cmd := "open"
	if profile != "" {
		if strings.ContainsAny(profile, " \t\r\n") {
			return fmt.Errorf("profile path %q: blanks cannot cross the window protocol", profile)
		}
		cmd += " " + profile + " " + strconv.Itoa(profileHZ)
	}
	if _, err := g.windowCmd(cmd); err != nil {
		return err
	}
	g.windowOpen = true
	return nil
}

// closeWindow closes it and returns its counters.
func (g *rig) closeWindow() (windowCounters, error) {
	g.windowOpen = false
	ans, err := g.windowCmd("close")
	if err != nil {
		return windowCounters{}, err
	}
	return parseWindowClose(ans)
}

// parseWindowClose decodes "close heap_alloc_bytes=B heap_alloc_objects=N
// gc_cycles=C" (unknown keys are ignored; the three are required).
func parseWindowClose(ans string) (windowCounters, error) {
	f := strings.Fields(ans)
	if len(f) == 0 || f[0] != "close" {
		return windowCounters{}, fmt.Errorf("window close: answer %q", ans)
	}
	var c windowCounters
	seen := 0
	for _, kv := range f[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return windowCounters{}, fmt.Errorf("window close: field %q", kv)
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return windowCounters{}, fmt.Errorf("window close: %s: %w", k, err)
		}
		switch k {
		case "heap_alloc_bytes":
			c.allocBytes, seen = float64(n), seen|1
		case "heap_alloc_objects":
			c.allocObjects, seen = float64(n), seen|2
		case "gc_cycles":
			c.gcCycles, seen = float64(n), seen|4
		case "goroutines_created":
			c.goroutines, c.hasGoroutines = float64(n), true
		}
	}
	if seen != 7 {
		return windowCounters{}, fmt.Errorf("window close: answer %q lacks a counter", ans)
	}
	return c, nil
}

// unitName is what the measured CPU of a scenario is divided by.
func unitName(u perUnit) string {
	switch u {
	case perMsg:
		return "msg"
	case perConn:
		return "conn"
	case perGB:
		return "GB"
	}
	return ""
}

// unitCount is the number of units a repetition's sample holds.
func unitCount(u perUnit, s sample) float64 {
	switch u {
	case perMsg, perConn:
		return s.units
	case perGB:
		return s.bytes / 1e9
	}
	return 0
}

// addWhere adds a repetition's where-the-time-goes metrics to m: the
// user/system split (t, when read) and the window's counters per unit.
func addWhere(m map[string]float64, u perUnit, s sample, t *procstat.Times, w *windowCounters) {
	n := unitCount(u, s)
	if t != nil {
		m[result.MetricUserS] = procstat.Seconds(t.User)
		m[result.MetricSysS] = procstat.Seconds(t.System)
		if n > 0 {
			m[result.MetricVolSwitchesUnit] = float64(t.VolSwitches) / n
		}
	}
	if w != nil {
		if n > 0 {
			m[result.MetricHeapBytesUnit] = w.allocBytes / n
			m[result.MetricAllocsUnit] = w.allocObjects / n
			if w.hasGoroutines {
				m[result.MetricGoroutinesUnit] = w.goroutines / n
			}
		}
		m[result.MetricGCCycles] = w.gcCycles
	}
}

// profilePath is where a cell's profiled window writes its profile.
func (cr *cellRun) profilePath() string {
	dir := cr.r.cfg.ProfileDir
	if dir == "" {
		dir = cr.r.cfg.WorkDir
	}
	return filepath.Join(dir, profileFile(cr.d.res.ID, cr.t.name))
}

// profileFile names a cell's pprof file beside run.json.
func profileFile(scenario, target string) string {
	clean := strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, target)
	return "profile-" + scenario + "-" + clean + ".pb.gz"
}

// classifyProfile reads the cell's profiled window and records it.
func (cr *cellRun) classifyProfile(path string, rep int) {
	f, err := os.Open(path)
	if err != nil {
		cr.note("no CPU profile: %v", err)
		return
	}
	defer f.Close()
	p, err := cpuprof.Parse(f)
	if err != nil {
		cr.note("CPU profile: %v", err)
		return
	}
	b := p.Where()
	hz := profileHZ
	if p.PeriodNS > 0 {
		hz = int(1e9 / p.PeriodNS)
	}
	prof := &result.Profile{Rep: rep, HZ: hz, Samples: b.Samples, CPUNS: b.Total, ClassNS: b.ByClass}
	if cr.r.cfg.ProfileDir != "" {
		prof.File = filepath.Base(path)
	}
	cr.cell.Profile = prof
}

func (cr *cellRun) note(format string, args ...any) {
	cr.r.run.Notes = append(cr.r.run.Notes, fmt.Sprintf("%s / %s: %s", cr.d.res.ID, cr.t.name, fmt.Sprintf(format, args...)))
}
