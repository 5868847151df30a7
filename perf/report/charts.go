package report

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/netmodels/netmodels/perf/result"
	"github.com/netmodels/netmodels/perf/stats"
)

var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff},
	color.RGBA{0xe3, 0x77, 0xc2, 0xff}, color.RGBA{0x17, 0xbe, 0xcf, 0xff},
}

// Color is the charts' i-th line colour (the palette repeats): other
// perf charts (perf/soak) draw in the report's colours.
func Color(i int) color.Color { return palette[i%len(palette)] }

// nines maps a percentile to the HdrHistogram plot's x axis: 90 → 1,
// 99 → 2, 99.9 → 3.
func nines(p float64) float64 {
	if p >= 100 {
		return 5
	}
	return -math.Log10(1 - p/100)
}

// cellCurve is the cell's percentile curve: from its merged histogram when
// there is one, else from the medians of the percentiles its client printed.
func cellCurve(c *result.Cell) plotter.XYs {
	var xys plotter.XYs
	if c.Hist != "" {
		if h, err := stats.DecodeHist(c.Hist); err == nil {
			for _, p := range stats.Curve(h) {
				if p.US > 0 {
					xys = append(xys, plotter.XY{X: nines(p.Percentile), Y: p.US})
				}
			}
			return xys
		}
	}
	for _, p := range []struct {
		m string
		p float64
	}{{"p50_us", 50}, {"p90_us", 90}, {"p99_us", 99}, {"p999_us", 99.9}} {
		if s, ok := c.Summary[p.m]; ok && s.Median > 0 {
			xys = append(xys, plotter.XY{X: nines(p.p), Y: s.Median})
		}
	}
	return xys
}

// writeCharts draws every chart of the run into dir and returns the file
// names per scenario.
func writeCharts(run *result.Run, dir string) (map[string][]string, error) {
	out := map[string][]string{}
	if _, err := writeHeatmap(run, dir); err != nil {
		return nil, err
	}
	for _, sc := range run.Scenarios {
		if hasMetric(sc, "p50_us") {
			name := "latency-" + sc.ID + ".svg"
			ok, err := latencyChart(sc, filepath.Join(dir, name))
			if err != nil {
				return nil, err
			}
			if ok {
				out[sc.ID] = append(out[sc.ID], name)
			}
		}
		for _, m := range []string{"gbps", "conns_per_s", "handshakes_per_s", "server_rss_kb_per_conn", "rate"} {
			if !hasMetric(sc, m) || (m == "rate" && hasMetric(sc, "p50_us") && sc.Group != "messenger") {
				continue
			}
			name := "bars-" + sc.ID + "-" + m + ".svg"
			ok, err := barChart(sc, m, filepath.Join(dir, name))
			if err != nil {
				return nil, err
			}
			if ok {
				out[sc.ID] = append(out[sc.ID], name)
			}
			break // one bar chart per scenario: its first throughput-like metric
		}
		if hasSeries(sc) {
			name := "throttle-" + sc.ID + ".svg"
			if err := seriesChart(sc, filepath.Join(dir, name)); err != nil {
				return nil, err
			}
			out[sc.ID] = append(out[sc.ID], name)
		}
	}
	return out, nil
}

func hasMetric(sc *result.Scenario, m string) bool {
	for _, d := range sc.Metrics {
		if d.Name == m {
			return true
		}
	}
	return false
}

func hasSeries(sc *result.Scenario) bool {
	for _, c := range sc.Cells {
		if len(c.Series) > 0 {
			return true
		}
	}
	return false
}

func latencyChart(sc *result.Scenario, path string) (bool, error) {
	p := plot.New()
	p.Title.Text = sc.ID + ": latency by percentile"
	p.X.Label.Text = "percentile"
	p.X.Tick.Marker = ninesTicks{}
	p.Y.Label.Text = "latency (µs, log)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	n := 0
	for i, c := range sc.Cells {
		if c.Status != result.StatusOK {
			continue
		}
		xys := cellCurve(c)
		if len(xys) < 2 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return false, err
		}
		l.Color = palette[i%len(palette)]
		l.Width = vg.Points(1.5)
		if c.Kind == result.KindAnchor {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		p.Legend.Add(c.Target, l)
		n++
	}
	if n == 0 {
		return false, nil
	}
	return true, p.Save(8*vg.Inch, 4.5*vg.Inch, path)
}

type barData struct {
	vals plotter.Values
	errs plotter.YErrors
}

func (b barData) Len() int                        { return len(b.vals) }
func (b barData) XY(i int) (float64, float64)     { return float64(i), b.vals[i] }
func (b barData) YError(i int) (float64, float64) { return b.errs[i].Low, b.errs[i].High }

func barChart(sc *result.Scenario, metric string, path string) (bool, error) {
	var bd barData
	var names []string
	unit := ""
	for _, m := range sc.Metrics {
		if m.Name == metric {
			unit = m.Unit
		}
	}
	for _, c := range sc.Cells {
		s, ok := c.Summary[metric]
		if c.Status != result.StatusOK || !ok || s.N == 0 {
			continue
		}
		names = append(names, c.Target)
		bd.vals = append(bd.vals, s.Median)
		bd.errs = append(bd.errs, struct{ Low, High float64 }{s.Median - s.Lo, s.Hi - s.Median})
	}
	if len(names) == 0 {
		return false, nil
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: %s (median, whiskers = CI of the median)", sc.ID, metric)
	p.Y.Label.Text = unit
	bars, err := plotter.NewBarChart(bd.vals, vg.Points(28))
	if err != nil {
		return false, err
	}
	bars.Color = palette[0]
	bars.LineStyle.Width = 0
	p.Add(bars)
	eb, err := plotter.NewYErrorBars(bd)
	if err != nil {
		return false, err
	}
	eb.LineStyle.Width = vg.Points(1.2)
	p.Add(eb)
	p.NominalX(names...)
	p.Y.Min = 0
	return true, p.Save(vg.Length(2+0.9*float64(len(names)))*vg.Inch, 4*vg.Inch, path)
}

func seriesChart(sc *result.Scenario, path string) error {
	p := plot.New()
	p.Title.Text = sc.ID + ": bytes held by the throttle vs its limit (first repetition)"
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "bytes"
	p.Legend.Top = true
	var limit float64
	var tmax float64
	for i, c := range sc.Cells {
		if len(c.Series) == 0 {
			continue
		}
		var xys plotter.XYs
		for _, s := range c.Series {
			xys = append(xys, plotter.XY{X: s.T, Y: s.Value})
			limit = max(limit, s.Limit)
			tmax = max(tmax, s.T)
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return err
		}
		l.Color = palette[i%len(palette)]
		p.Add(l)
		p.Legend.Add(c.Target+" held", l)
	}
	// The configured limit wins over what a gauge reported (if any).
	if v, err := strconv.ParseFloat(sc.Params["throttle_bytes"], 64); err == nil {
		limit = v
	}
	size, _ := strconv.ParseFloat(sc.Params["size"], 64)
	for _, hl := range []struct {
		y    float64
		name string
		dash bool
	}{{limit, "limit", false}, {limit + size, "limit + one message", true}} {
		l, err := plotter.NewLine(plotter.XYs{{X: 0, Y: hl.y}, {X: tmax, Y: hl.y}})
		if err != nil {
			return err
		}
		l.Color = color.Black
		if hl.dash {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		p.Legend.Add(hl.name, l)
	}
	p.Y.Min = 0
	p.Y.Max = (limit + size) * 1.35 // room for the legend above the lines
	return p.Save(8*vg.Inch, 4*vg.Inch, path)
}

// ninesTicks labels the percentile axis p0, p50, p90, p99, ...
type ninesTicks struct{}

func (ninesTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for _, t := range []struct {
		p     float64
		label string
	}{{0, "p0"}, {50, "p50"}, {90, "p90"}, {99, "p99"}, {99.9, "p99.9"}, {99.99, "p99.99"}, {99.999, "p99.999"}} {
		x := nines(t.p)
		if x >= lo-1e-9 && x <= hi+1e-9 {
			out = append(out, plot.Tick{Value: x, Label: t.label})
		}
	}
	return out
}
