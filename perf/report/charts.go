package report

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

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

// targetColors fix each known target's colour, the same in every chart
// of every run: a reader learns "rawepoll is orange" once. Anchors are
// greys (and dashed in line charts): the yardstick, not a contestant.
var targetColors = map[string]color.Color{
	"goroutine":  color.RGBA{0x1f, 0x77, 0xb4, 0xff}, // blue
	"rawepoll":   color.RGBA{0xff, 0x7f, 0x0e, 0xff}, // orange
	"gnet":       color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, // green
	"netpoll":    color.RGBA{0x94, 0x67, 0xbd, 0xff}, // purple
	"dpdk":       color.RGBA{0xd6, 0x27, 0x28, 0xff}, // red
	"dpdk-memif": color.RGBA{0xe3, 0x77, 0xc2, 0xff}, // pink: dpdk's kin
	"raw-tcp":    color.RGBA{0x40, 0x40, 0x40, 0xff},
	"direct":     color.RGBA{0x40, 0x40, 0x40, 0xff},
	"haproxy":    color.RGBA{0x80, 0x80, 0x80, 0xff},
	"ceph-mon":   color.RGBA{0xa0, 0xa0, 0xa0, 0xff},
	"ceph-osd":   color.RGBA{0xa0, 0xa0, 0xa0, 0xff},
}

// extraColors are for targets not in targetColors (an engine at another
// commit, a new engine), picked by a hash of the name: stable across runs.
var extraColors = []color.Color{
	color.RGBA{0x8c, 0x56, 0x4b, 0xff}, color.RGBA{0x17, 0xbe, 0xcf, 0xff},
	color.RGBA{0xbc, 0xbd, 0x22, 0xff}, color.RGBA{0x39, 0x3b, 0x79, 0xff},
	color.RGBA{0x84, 0x3c, 0x39, 0xff}, color.RGBA{0x63, 0x79, 0x39, 0xff},
}

// TargetColor is target's colour in every chart.
func TargetColor(target string) color.Color {
	if c, ok := targetColors[target]; ok {
		return c
	}
	h := fnv.New32a()
	h.Write([]byte(target))
	return extraColors[h.Sum32()%uint32(len(extraColors))]
}

// anchorDashes tell anchors apart from engines (solid) and from each
// other in line charts.
var anchorDashes = map[string][]vg.Length{
	"raw-tcp":  {vg.Points(2), vg.Points(2)},
	"direct":   {vg.Points(2), vg.Points(2)},
	"haproxy":  {vg.Points(6), vg.Points(3)},
	"ceph-mon": {vg.Points(6), vg.Points(2), vg.Points(2), vg.Points(2)},
}

func dashesFor(target string) []vg.Length {
	if d, ok := anchorDashes[target]; ok {
		return d
	}
	return []vg.Length{vg.Points(4), vg.Points(3)}
}

// chartFont is Liberation Sans (gonum's metrics), named in the SVG with
// sans-serif fallbacks (svgFonts). A browser without it substitutes a
// wider face (DejaVu Sans sets the same text about 12 % wider); the
// layout reserves fallbackWidth times gonum's measure for labels that
// meet an edge or a neighbour, so none is clipped ("rawepo").
var chartFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

const fallbackWidth = 1.3

// newPlot is a plot in the charts' font.
func newPlot(title string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(chartFont, 12)
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font = font.From(chartFont, 11)
		ax.Tick.Label.Font = font.From(chartFont, 10)
	}
	return p
}

// newLegend is a legend in the charts' font, drawn outside the plot.
func newLegend() *plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font = font.From(chartFont, 10)
	l.Top, l.Left = true, true
	l.Padding = vg.Points(4) // a taller substitute font stays apart
	return &l
}

// svgFonts gives the SVG's font family sans-serif fallbacks.
func svgFonts(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte("font-family:Liberation Sans;"), []byte("font-family:'Liberation Sans',Arimo,Arial,Helvetica,sans-serif;"))
}

// tickLabelWidth is the widest tick label of ax (as gonum measures it).
func tickLabelWidth(ax *plot.Axis) vg.Length {
	var w vg.Length
	for _, t := range ax.Tick.Marker.Ticks(ax.Min, ax.Max) {
		w = max(w, ax.Tick.Label.Width(t.Label))
	}
	return w
}

// save draws p (size w×h) and, when it has entries, leg to the right of
// it — outside the plot area, so it never covers data — into an SVG.
// Margins leave room for a substituted font's wider labels.
func save(p *plot.Plot, leg *plot.Legend, entries int, w, h vg.Length, path string) error {
	extra := fallbackWidth - 1
	margin := vg.Points(6) + vg.Length(extra)*max(tickLabelWidth(&p.X), tickLabelWidth(&p.Y))
	var legW vg.Length
	if entries > 0 {
		legW = vg.Length(fallbackWidth)*leg.Rectangle(draw.Canvas{}).Size().X + vg.Points(16)
	}
	// The title is placed centred by gonum's measure and set from there
	// rightwards: a text fallbackWidth times wider ends (fallbackWidth −
	// ½)·width right of the centre.
	total := max(w+legW, vg.Length(2*fallbackWidth-1)*p.Title.TextStyle.Width(p.Title.Text)+2*margin+legW)
	c := vgsvg.New(total, h)
	dc := draw.New(c)
	dc.FillPolygon(color.White, []vg.Point{{X: 0, Y: 0}, {X: total, Y: 0}, {X: total, Y: h}, {X: 0, Y: h}})
	p.Draw(draw.Crop(dc, margin, -(legW + margin), vg.Points(2), -vg.Points(4)))
	if entries > 0 {
		// Below the title, beside the plot's top.
		leg.Draw(draw.Crop(dc, total-legW+vg.Points(8), 0, 0, -vg.Points(28)))
	}
	return writeSVG(c, path)
}

// writeSVG writes a drawn canvas to path, with the font fallbacks.
func writeSVG(c *vgsvg.Canvas, path string) error {
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return fmt.Errorf("chart %s: %w", filepath.Base(path), err)
	}
	return os.WriteFile(path, svgFonts(b.Bytes()), 0o644)
}

// targetLine is a target's line with its points in the run's colour for
// the target, 1.5 pt wide, dashed for an anchor, and its legend name.
func targetLine(xys plotter.XYs, target string, anchor bool) (*plotter.Line, *plotter.Scatter, string, error) {
	lp, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return nil, nil, "", err
	}
	lp.Color, pts.Color = TargetColor(target), TargetColor(target)
	lp.Width = vg.Points(1.5)
	name := target
	if anchor {
		lp.Dashes = dashesFor(target)
		name += " (anchor)"
	}
	return lp, pts, name, nil
}

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
		if sc.Group == result.GroupCores {
			continue // coresCharts
		}
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
		if err := addRampChart(sc, dir, out); err != nil {
			return nil, err
		}
		if hasSeries(sc) {
			name := "throttle-" + sc.ID + ".svg"
			if err := seriesChart(sc, filepath.Join(dir, name)); err != nil {
				return nil, err
			}
			out[sc.ID] = append(out[sc.ID], name)
		}
	}
	if err := connsCharts(run, dir, out); err != nil {
		return nil, err
	}
	return out, coresCharts(run, dir, out)
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
	p := newPlot(sc.ID + ": latency by percentile")
	p.X.Label.Text = "percentile (log scale of 1/(1 − p))"
	p.X.Tick.Marker = ninesTicks{}
	p.Y.Label.Text = "latency [µs] (log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	leg := newLegend()
	n := 0
	for _, c := range sc.Cells {
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
		l.Color = TargetColor(c.Target)
		l.Width = vg.Points(1.5)
		name := c.Target
		if c.Kind == result.KindAnchor {
			l.Dashes = dashesFor(c.Target)
			name += " (anchor)"
		}
		p.Add(l)
		leg.Add(name, l)
		n++
	}
	if n == 0 {
		return false, nil
	}
	return true, save(p, leg, n, 8*vg.Inch, 4.5*vg.Inch, path)
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
	var anchor []bool
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
		anchor = append(anchor, c.Kind == result.KindAnchor)
		bd.vals = append(bd.vals, s.Median)
		bd.errs = append(bd.errs, struct{ Low, High float64 }{s.Median - s.Lo, s.Hi - s.Median})
	}
	if len(names) == 0 {
		return false, nil
	}
	p := newPlot(fmt.Sprintf("%s: %s (median, whiskers = CI of the median; grey = anchors)", sc.ID, metric))
	p.Y.Label.Text = fmt.Sprintf("%s [%s]", metric, unit)
	p.X.Label.Text = "target"
	// One bar per target, each in its own colour (anchors grey).
	for i, v := range bd.vals {
		bars, err := plotter.NewBarChart(plotter.Values{v}, vg.Points(28))
		if err != nil {
			return false, err
		}
		bars.XMin = float64(i)
		bars.Color = TargetColor(names[i])
		if anchor[i] {
			bars.Color = color.RGBA{0xbd, 0xbd, 0xbd, 0xff}
		}
		bars.LineStyle.Width = 0
		p.Add(bars)
	}
	eb, err := plotter.NewYErrorBars(bd)
	if err != nil {
		return false, err
	}
	eb.LineStyle.Width = vg.Points(1.2)
	p.Add(eb)
	p.NominalX(names...)
	p.Y.Min = 0
	// Each bar's slot holds its label set in a wider substitute font.
	slot := 0.9 * vg.Inch
	for _, n := range names {
		slot = max(slot, vg.Length(fallbackWidth)*p.X.Tick.Label.Width(n)+vg.Points(8))
	}
	return true, save(p, nil, 0, 1.5*vg.Inch+slot*vg.Length(len(names)), 4*vg.Inch, path)
}

func seriesChart(sc *result.Scenario, path string) error {
	p := newPlot(sc.ID + ": bytes held by the throttle vs its limit (first repetition)")
	p.X.Label.Text = "time [s]"
	p.Y.Label.Text = "bytes held [B]"
	leg := newLegend()
	var limit float64
	var tmax float64
	n := 0
	for _, c := range sc.Cells {
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
		l.Color = TargetColor(c.Target)
		p.Add(l)
		leg.Add(c.Target+" held", l)
		n++
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
		leg.Add(hl.name, l)
		n++
	}
	p.Y.Min = 0
	p.Y.Max = (limit + size) * 1.1 // the bound line clear of the frame
	return save(p, leg, n, 8*vg.Inch, 4*vg.Inch, path)
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
