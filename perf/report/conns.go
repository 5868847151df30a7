package report

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/netmodels/netmodels/perf/result"
)

// The connection sweep (perf/bench conns.go): one scenario of group
// "conns" per number of connections N held (Params["conns"]). Its
// "Connections" section is a table target × N of the four figures the
// sweep is about, one chart (RSS per connection and p99 against N, a
// panel each, one line per target in its fixed colour, anchors dashed),
// then each point's own table.

// connsChartKey is the charts map's key of the sweep's chart.
const connsChartKey = "conns-sweep"

// connsMetrics are the table's rows per target, in order.
var connsMetrics = []struct{ name, label string }{
	{"server_rss_kb_per_conn", "RSS per connection [KiB]"},
	{"server_cpu_us_per_conn_s", "CPU per connection-second [CPU-µs]"},
	{"server_cpu_us_per_msg", "CPU per request [CPU-µs]"},
	{"p99_us", "request p99 [µs]"},
	{"setup_conns_per_s", "opening [conn/s] (one opening per cell)"},
}

// connsScenarios are the run's sweep points by N, ascending.
func connsScenarios(run *result.Run) (ns []int, byN map[int]*result.Scenario) {
	byN = map[int]*result.Scenario{}
	for _, sc := range run.Scenarios {
		if sc.Group != result.GroupConns {
			continue
		}
		n, err := strconv.Atoi(sc.Params["conns"])
		if err != nil || byN[n] != nil {
			continue
		}
		byN[n] = sc
		ns = append(ns, n)
	}
	sort.Ints(ns)
	return ns, byN
}

// connsTargets are the sweep's targets in order of first appearance, with
// whether each is an anchor.
func connsTargets(ns []int, byN map[int]*result.Scenario) (names []string, anchor map[string]bool) {
	anchor = map[string]bool{}
	for _, n := range ns {
		for _, c := range byN[n].Cells {
			if _, seen := anchor[c.Target]; !seen {
				names = append(names, c.Target)
			}
			anchor[c.Target] = c.Kind == result.KindAnchor
		}
	}
	return names, anchor
}

// nText is 10k for 10000, as the scenario IDs name the points, 9.4k for
// 9400 (a point sized down to the descriptor limit).
func nText(n int) string {
	switch {
	case n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	case n >= 1000 && n%100 == 0:
		return strconv.FormatFloat(float64(n)/1000, 'f', -1, 64) + "k"
	}
	return strconv.Itoa(n)
}

// connsRows is the target × N table: a row per target and figure, a
// column per N; a cell that did not measure says so (the reasons follow
// the table, connsReasons).
func connsRows(run *result.Run) (head []string, rows [][]string) {
	ns, byN := connsScenarios(run)
	targets, anchor := connsTargets(ns, byN)
	head = []string{"target", "figure"}
	for _, n := range ns {
		h := "N = " + nText(n)
		if a, err := strconv.Atoi(byN[n].Params["conns_asked"]); err == nil && a != n {
			h += " (" + nText(a) + " asked: RLIMIT_NOFILE)"
		}
		head = append(head, h)
	}
	for _, tg := range targets {
		name := tg
		if anchor[tg] {
			name += " (anchor)"
		}
		for _, m := range connsMetrics {
			row := []string{name, m.label}
			for _, n := range ns {
				c := byN[n].Cell(tg)
				switch {
				case c == nil:
					row = append(row, "")
				case c.Status != result.StatusOK:
					row = append(row, statusText(c))
				default:
					row = append(row, summaryText(c.Summary[m.name]))
				}
			}
			rows = append(rows, row)
		}
	}
	return head, rows
}

// connsReasons says why each cell of the sweep that did not measure did
// not: a point that cannot run here is absent with its reason, never
// silently missing.
func connsReasons(run *result.Run) []string {
	ns, byN := connsScenarios(run)
	var out []string
	for _, n := range ns {
		for _, c := range byN[n].Cells {
			if c.Status != result.StatusOK {
				out = append(out, fmt.Sprintf("N = %s, %s %s: %s", nText(n), c.Target, c.Status, esc(c.Reason)))
			}
		}
	}
	return out
}

// connsSections is "Connections" (the table, the chart, the limits) and
// each point's own section; nil when the run has no sweep point.
func connsSections(run *result.Run, charts map[string][]string) []section {
	ns, byN := connsScenarios(run)
	if len(ns) == 0 {
		return nil
	}
	s := section{level: 2, title: "Connections: cost against concurrent connections", id: "connections", images: charts[connsChartKey]}
	s.paras = append(s.paras, "What do N concurrent connections cost a proxy? Each point holds N connections through the target "+
		"and sends a fixed total of requests over them (the points' notes give the rate and size), so each connection sends rarely and what grows with N is the cost of holding one. "+
		"RSS per connection: the server's RSS at the end of each repetition minus its RSS before the opening, over N. CPU per connection-second: its CPU during a repetition over N × the repetition's seconds; "+
		"at a fixed total rate it falls as 1/N when holding a connection costs nothing, so CPU per request, the same CPU over the requests, is the one to read for a cost that grows with N. "+
		"p99: the requests' latency from their intended send time (open loop). Opening: N over the time the client took to open them all (connect and a first echo through, a bounded number in flight); "+
		"the connections are opened once per cell and held through its repetitions, so this figure has one sample (no interval). direct (anchor): the raw echo server holding the connections itself, no proxy.")
	if l := run.Extra["conns_limits"]; l != "" {
		s.paras = append(s.paras, "Limits on this machine: "+l+".")
	}
	head, rows := connsRows(run)
	s.tables = append(s.tables, table{head: head, rows: rows})
	s.after = connsReasons(run)
	out := []section{s}
	absent := targetReasons(run)
	for _, n := range ns {
		sc := byN[n]
		sub := scenarioSection(sc, charts[sc.ID], absent)
		if cfg := run.Extra["conns_proxy_config_"+strconv.Itoa(n)]; cfg != "" {
			sub.pre = cfg
		}
		out = append(out, sub)
	}
	return out
}

// connsLine is one target's points in one panel.
type connsLine struct {
	target string
	anchor bool
	xys    plotter.XYs
}

// connsPanel draws one figure against N, one line per target (a target
// with one point is a marker only).
func connsPanel(ns []int, byN map[int]*result.Scenario, metric, title, ylabel string, logY bool) (*plot.Plot, []*connsLine) {
	targets, anchor := connsTargets(ns, byN)
	var lines []*connsLine
	top, bottom := 0.0, math.Inf(1)
	for _, tg := range targets {
		l := &connsLine{target: tg, anchor: anchor[tg]}
		for _, n := range ns {
			c := byN[n].Cell(tg)
			if c == nil || c.Status != result.StatusOK {
				continue
			}
			s, ok := c.Summary[metric]
			if !ok || s.N == 0 || math.IsNaN(s.Median) || (logY && s.Median <= 0) {
				continue
			}
			l.xys = append(l.xys, plotter.XY{X: float64(n), Y: s.Median})
			top, bottom = max(top, s.Median), min(bottom, s.Median)
		}
		if len(l.xys) > 0 {
			lines = append(lines, l)
		}
	}
	p := newPlot(title)
	p.X.Label.Text = "connections N (log scale)"
	p.Y.Label.Text = ylabel
	p.X.Scale = plot.LogScale{}
	var ticks []plot.Tick
	for _, n := range ns {
		ticks = append(ticks, plot.Tick{Value: float64(n), Label: nText(n)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = float64(ns[0])/1.6, float64(ns[len(ns)-1])*1.6
	if logY && top > 0 {
		p.Y.Scale = plot.LogScale{}
		p.Y.Min, p.Y.Max = bottom/1.5, top*1.5
		p.Y.Tick.Marker = ticks125{}
	} else {
		p.Y.Min, p.Y.Max = 0, max(top*1.1, 1)
	}
	return p, lines
}

// connsChart draws the sweep's chart: RSS per connection (left) and p99
// (right) against N. ok is false when nothing measured.
func connsChart(run *result.Run, path string) (bool, error) {
	ns, byN := connsScenarios(run)
	if len(ns) == 0 {
		return false, nil
	}
	left, ll := connsPanel(ns, byN, "server_rss_kb_per_conn", "RSS per connection (medians)", "RSS per connection [KiB]", false)
	right, rl := connsPanel(ns, byN, "p99_us", "request p99 (medians)", "p99 [µs] (log scale)", true)
	if len(ll) == 0 && len(rl) == 0 {
		return false, nil
	}
	leg := newLegend()
	seen := map[string]bool{}
	entries := 0
	for _, pl := range []struct {
		p     *plot.Plot
		lines []*connsLine
	}{{left, ll}, {right, rl}} {
		for _, l := range pl.lines {
			lp, pts, name, err := targetLine(l.xys, l.target, l.anchor)
			if err != nil {
				return false, err
			}
			pl.p.Add(lp, pts)
			if !seen[l.target] {
				seen[l.target] = true
				leg.Add(name, lp, pts)
				entries++
			}
		}
	}
	return true, savePanels(left, right, leg, entries, 5*vg.Inch, 4.2*vg.Inch, path)
}

// savePanels is save for two plots side by side (each w×h) sharing one
// legend at the right, outside both.
func savePanels(left, right *plot.Plot, leg *plot.Legend, entries int, w, h vg.Length, path string) error {
	extra := vg.Length(fallbackWidth - 1)
	margin := vg.Points(6) + extra*max(tickLabelWidth(&left.Y), tickLabelWidth(&right.Y), tickLabelWidth(&left.X))
	var legW vg.Length
	if entries > 0 {
		legW = vg.Length(fallbackWidth)*leg.Rectangle(draw.Canvas{}).Size().X + vg.Points(16)
	}
	// Each panel at least as wide as its title set in a wider face.
	w = max(w, vg.Length(fallbackWidth)*left.Title.TextStyle.Width(left.Title.Text)+2*margin,
		vg.Length(fallbackWidth)*right.Title.TextStyle.Width(right.Title.Text)+2*margin)
	total := 2*w + legW
	c := vgsvg.New(total, h)
	dc := draw.New(c)
	dc.FillPolygon(color.White, []vg.Point{{X: 0, Y: 0}, {X: total, Y: 0}, {X: total, Y: h}, {X: 0, Y: h}})
	left.Draw(draw.Crop(dc, margin, -(total - w + margin), vg.Points(2), -vg.Points(4)))
	right.Draw(draw.Crop(dc, w+margin, -(legW + margin), vg.Points(2), -vg.Points(4)))
	if entries > 0 {
		leg.Draw(draw.Crop(dc, total-legW+vg.Points(8), 0, 0, -vg.Points(28)))
	}
	return writeSVG(c, path)
}

// connsCharts draws the sweep's chart into dir, when the run has one.
func connsCharts(run *result.Run, dir string, out map[string][]string) error {
	name := "conns-sweep.svg"
	ok, err := connsChart(run, filepath.Join(dir, name))
	if err != nil {
		return fmt.Errorf("chart %s: %w", name, err)
	}
	if ok {
		out[connsChartKey] = append(out[connsChartKey], name)
	}
	return nil
}

// ticks125 labels a log axis at 1, 2 and 5 times the powers of ten in
// its range: a p99 axis spanning less than a decade still has labels
// (plot.LogTicks marks powers of ten only).
type ticks125 struct{}

func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	if lo <= 0 || hi <= lo {
		return nil
	}
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			if v := m * math.Pow(10, e); v >= lo && v <= hi {
				out = append(out, plot.Tick{Value: v, Label: num(v)})
			}
		}
	}
	return out
}
