package report

import (
	"fmt"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/netmodels/netmodels/perf/result"
	"github.com/netmodels/netmodels/perf/stats"
)

// The core sweep (perf/bench cores.go): each scenario of group "cores"
// holds one target per point, "rawepoll/w2" (result.CoreTarget), and
// possibly a plain anchor (direct) as the load's own ceiling. Its
// "Cores" section is a table per scenario, target × workers, and one
// chart per scenario: rate against workers, one line per target.

// corePoint reports whether c is a point of a core sweep; the run's other
// tables leave those out (a column per point would widen them all).
func corePoint(c *result.Cell) bool {
	_, _, ok := result.ParseCoreTarget(c.Target)
	return ok
}

// coreLimit says what bounded a point: the machine, when 90 % or more of
// the run's CPUs (its affinity mask) were busy during the repetitions
// (busy: machine_busy_pct, every process on them counted: client, target,
// the proxy's backend, other users), so a further worker could not get a
// core of its own; the
// target, when it kept its n workers' cores busy; neither, when CPU was
// left unused (the point waited on something else). busy < 0: not
// measured.
func coreLimit(n int, busy, server, client float64) string {
	cores := fmt.Sprintf("client %s, target %s cores", num(client), num(server))
	switch {
	case busy >= 90:
		return fmt.Sprintf("machine (%s %% of the CPUs busy; %s)", num(busy), cores)
	case server >= 0.9*float64(n):
		return fmt.Sprintf("target (%s of its %d cores busy)", num(server), n)
	case busy >= 0:
		return fmt.Sprintf("neither (%s %% of the CPUs busy; %s)", num(busy), cores)
	}
	return "– (" + cores + ")"
}

// coreRate is the sweep's rate metric: the scenario's first.
func coreRate(sc *result.Scenario) result.MetricDef { return sc.Metrics[0] }

// coreRows is one scenario's table: a row per point in the scenario's
// order, the efficiency against the same target's 1-worker point.
func coreRows(sc *result.Scenario) [][]string {
	m := coreRate(sc)
	at1 := map[string]stats.Summary{}
	for _, c := range sc.Cells {
		if base, n, ok := result.ParseCoreTarget(c.Target); ok && n == 1 && c.Status == result.StatusOK {
			at1[base] = c.Summary[m.Name]
		}
	}
	var rows [][]string
	for _, c := range sc.Cells {
		base, n, ok := result.ParseCoreTarget(c.Target)
		workers := strconv.Itoa(n)
		if !ok {
			base, workers = c.Target, "–"
		}
		row := []string{base, workers}
		if c.Status != result.StatusOK {
			rows = append(rows, append(row, statusText(c)+": "+esc(c.Reason), "", "", "", "", ""))
			continue
		}
		rate := c.Summary[m.Name]
		srv, cli := c.Summary["server_cores"], c.Summary["client_cores"]
		busy := -1.0
		if b, have := c.Summary["machine_busy_pct"]; have && b.N > 0 {
			busy = b.Median
		}
		row = append(row, summaryText(rate))
		if !ok {
			rows = append(rows, append(row, "–", "–", num(srv.Median), num(cli.Median), "the load's own ceiling (no proxy): "+coreLimit(1<<30, busy, srv.Median, cli.Median)))
			continue
		}
		eff := "–"
		if n == 1 {
			eff = "reference"
		} else if e, lo, hi, ok := result.Efficiency(n, rate, at1[base]); ok {
			eff = fmt.Sprintf("%s (%s–%s)", pct(e), pct(lo), pct(hi))
		}
		row = append(row, summaryText(c.Summary["rate_per_core"]), eff, num(srv.Median), num(cli.Median),
			coreLimit(n, busy, srv.Median, cli.Median))
		rows = append(rows, row)
	}
	return rows
}

func pct(v float64) string { return num(100*v) + " %" }

// coresSections is "Cores" and a subsection per core-sweep scenario (its
// table and chart); nil when the run has no core sweep.
func coresSections(run *result.Run, charts map[string][]string) []section {
	var out []section
	for _, sc := range run.Scenarios {
		if sc.Group != result.GroupCores || len(sc.Metrics) == 0 {
			continue
		}
		if out == nil {
			out = append(out, section{level: 2, title: "Cores: rate against workers", paras: []string{"Does a second core double the rate? " +
				"Each point is a target at N workers (engines: --workers N with GOMAXPROCS=N; HAProxy: nbthread N), all points of a scenario up side by side " +
				"and taking turns, every process unpinned. Rate per core = rate ÷ N; efficiency = rate at N ÷ (N × the same target's rate at 1), " +
				"its bounds from both medians' intervals (conservative). Target and client cores: the measured process's and the load generator's CPU per second (medians). " +
				"Limit: machine when 90 % or more of the run's CPUs (its affinity mask) were busy during the repetitions (/proc/stat; every process on them counts: the load generator, " +
				"the proxy's backend, other users of a shared machine), so a further worker could not get a core of its own and the efficiency says more about the machine than the target; " +
				"target when it kept 90 % of its N cores busy; neither when CPU was left unused (the point waited on something else)."}})
		}
		m := coreRate(sc)
		sub := section{level: 3, title: sc.Title + " (`" + sc.ID + "`)", images: charts[sc.ID]}
		if sc.Note != "" {
			sub.paras = append(sub.paras, sc.Note)
		}
		sub.tables = append(sub.tables, table{
			head: []string{"target", "workers", metricHead(m), "per core [" + m.Unit + "]", "efficiency", "target cores", "client cores", "limit"},
			rows: coreRows(sc)})
		out = append(out, sub)
	}
	return out
}

// coresCharts draws one chart per core-sweep scenario into dir and adds
// it to out: the rate (median, whiskers the CI) against the worker count,
// one line per target in the run's colour for it, anchors dashed; a
// point-less anchor (direct) is a level across the chart.
func coresCharts(run *result.Run, dir string, out map[string][]string) error {
	for _, sc := range run.Scenarios {
		if sc.Group != result.GroupCores || len(sc.Metrics) == 0 {
			continue
		}
		name := "sweep-" + sc.ID + ".svg"
		ok, err := coresChart(sc, filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("chart %s: %w", name, err)
		}
		if ok {
			out[sc.ID] = append(out[sc.ID], name)
		}
	}
	return nil
}

type coreLine struct {
	base   string
	anchor bool
	xys    plotter.XYs
	errs   plotter.YErrors
}

// coreXYE is a line's points with their CI whiskers (plotter.XYer and
// YErrorer).
type coreXYE struct {
	plotter.XYs
	plotter.YErrors
}

func coresChart(sc *result.Scenario, path string) (bool, error) {
	m := coreRate(sc)
	var lines []*coreLine
	byBase := map[string]*coreLine{}
	var levels []*result.Cell
	maxN, top := 1, 0.0
	for _, c := range sc.Cells {
		s, have := c.Summary[m.Name]
		if c.Status != result.StatusOK || !have || s.N == 0 {
			continue
		}
		top = max(top, s.Hi)
		base, n, ok := result.ParseCoreTarget(c.Target)
		if !ok {
			levels = append(levels, c)
			continue
		}
		l := byBase[base]
		if l == nil {
			l = &coreLine{base: base, anchor: c.Kind == result.KindAnchor}
			byBase[base] = l
			lines = append(lines, l)
		}
		l.xys = append(l.xys, plotter.XY{X: float64(n), Y: s.Median})
		l.errs = append(l.errs, struct{ Low, High float64 }{s.Median - s.Lo, s.Hi - s.Median})
		maxN = max(maxN, n)
	}
	if len(lines) == 0 {
		return false, nil
	}
	p := newPlot(fmt.Sprintf("%s: %s against workers (median, whiskers: CI)", sc.ID, m.Name))
	p.X.Label.Text = "workers N (engines: --workers N; HAProxy: nbthread N)"
	p.Y.Label.Text = m.Name + " [" + m.Unit + "]"
	p.X.Min, p.X.Max = 0.8, float64(maxN)+0.2
	var ticks []plot.Tick
	for n := 1; n <= maxN; n++ {
		ticks = append(ticks, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min, p.Y.Max = 0, top*1.1
	leg := newLegend()
	entries := 0
	for _, l := range lines {
		lp, pts, name, err := targetLine(l.xys, l.base, l.anchor)
		if err != nil {
			return false, err
		}
		eb, err := plotter.NewYErrorBars(coreXYE{l.xys, l.errs})
		if err != nil {
			return false, err
		}
		eb.Color = lp.Color
		p.Add(lp, pts, eb)
		leg.Add(name, lp, pts)
		entries++
	}
	for _, c := range levels {
		y := c.Summary[m.Name].Median
		ref, err := plotter.NewLine(plotter.XYs{{X: p.X.Min, Y: y}, {X: p.X.Max, Y: y}})
		if err != nil {
			return false, err
		}
		ref.Color, ref.Dashes = TargetColor(c.Target), dashesFor(c.Target)
		p.Add(ref)
		leg.Add(c.Target+" (no proxy)", ref)
		entries++
	}
	// As wide as the latency charts, wider for a long sweep.
	return true, save(p, leg, entries, vg.Length(max(8, 4+0.5*float64(maxN)))*vg.Inch, 4.5*vg.Inch, path)
}
