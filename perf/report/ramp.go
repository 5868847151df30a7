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
	"gonum.org/v1/plot/vg/draw"

	"github.com/netmodels/netmodels/perf/result"
)

// addRampChart draws a latency-vs-load scenario's chart (perf/bench
// ramp.go) into dir and lists it under the scenario in out; a scenario
// without ramp cells draws nothing.
func addRampChart(sc *result.Scenario, dir string, out map[string][]string) error {
	name := "ramp-" + sc.ID + ".svg"
	ok, err := rampChart(sc, filepath.Join(dir, name))
	if err != nil {
		return fmt.Errorf("ramp chart %s: %w", sc.ID, err)
	}
	if ok {
		out[sc.ID] = append(out[sc.ID], name)
	}
	return nil
}

// rampCurves are a cell's p99 and p50 against the achieved rate: per
// step, the medians over the repetitions (the knee in the table is taken
// per repetition from the same figures).
func rampCurves(c *result.Cell) (p99, p50 plotter.XYs) {
	if c.Ramp == nil {
		return nil, nil
	}
	for _, st := range c.Ramp.Steps {
		x := st.Summary["rate"].Median
		if x <= 0 {
			continue
		}
		if y := st.Summary["p99_us"].Median; y > 0 {
			p99 = append(p99, plotter.XY{X: x, Y: y})
		}
		if y := st.Summary["p50_us"].Median; y > 0 {
			p50 = append(p50, plotter.XY{X: x, Y: y})
		}
	}
	return p99, p50
}

// anchorShapes tell the anchors' p99 markers apart (their lines are the
// report's anchor greys and dashes); engines' markers are circles.
var anchorShapes = map[string]draw.GlyphDrawer{
	"raw-tcp": draw.BoxGlyph{}, "direct": draw.BoxGlyph{}, "haproxy": draw.TriangleGlyph{}, "ceph-mon": draw.CrossGlyph{},
}

func rampChart(sc *result.Scenario, path string) (bool, error) {
	p := newPlot(sc.ID + ": latency against load (per step, medians of the repetitions)")
	p.X.Label.Text = "achieved rate [msg/s]"
	p.X.Tick.Marker = plainTicks{}
	p.Y.Label.Text = "latency [µs] (log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	leg := newLegend()
	// p99 is the thick line with markers (an anchor's in its grey and
	// dashes, as in every chart); p50 the thin dashed one beside it.
	p50Dashes := []vg.Length{vg.Points(3), vg.Points(3)}
	n, entries := 0, 0
	var bound, xmax float64
	for _, c := range sc.Cells {
		if c.Status != result.StatusOK || c.Ramp == nil {
			continue
		}
		p99, p50 := rampCurves(c)
		if len(p99) == 0 {
			continue
		}
		bound = c.Ramp.BoundUS
		anchor := c.Kind == result.KindAnchor
		l, pts, label, err := targetLine(p99, c.Target, anchor)
		if err != nil {
			return false, err
		}
		col, shape := l.Color, draw.GlyphDrawer(draw.CircleGlyph{})
		if s, ok := anchorShapes[c.Target]; ok && anchor {
			shape = s
		}
		l.Width = vg.Points(1.8)
		pts.Shape, pts.Radius = shape, vg.Points(2.5)
		p.Add(l, pts)
		leg.Add(label, l, pts)
		entries++
		if len(p50) > 1 {
			l50, err := plotter.NewLine(p50)
			if err != nil {
				return false, err
			}
			l50.Color, l50.Width, l50.Dashes = col, vg.Points(0.8), p50Dashes
			p.Add(l50)
		}
		for _, xy := range p99 {
			xmax = max(xmax, xy.X)
		}
		n++
	}
	if n == 0 {
		return false, nil
	}
	if bound > 0 {
		bl, err := plotter.NewLine(plotter.XYs{{X: 0, Y: bound}, {X: xmax, Y: bound}})
		if err != nil {
			return false, err
		}
		bl.Color, bl.Width, bl.Dashes = color.Black, vg.Points(0.8), []vg.Length{vg.Points(1), vg.Points(2)}
		p.Add(bl)
		leg.Add(fmt.Sprintf("knee bound: p99 %g µs", bound), bl)
		entries++
	}
	for _, k := range []struct {
		name   string
		width  vg.Length
		dashes []vg.Length
	}{{"p99: thick, markers", vg.Points(1.8), nil}, {"p50: thin, dashed", vg.Points(0.8), p50Dashes}} {
		l, err := plotter.NewLine(plotter.XYs{})
		if err != nil {
			return false, err
		}
		l.Color, l.Width, l.Dashes = color.Black, k.width, k.dashes
		leg.Add(k.name, l)
		entries++
	}
	p.X.Min = 0
	p.Add(plotter.NewGrid())
	return true, save(p, leg, entries, 8*vg.Inch, 4.5*vg.Inch, path)
}

// plainTicks label the rate axis every 1, 2 or 5 × 10^k, five to ten
// labels across the range, as plain numbers ("25000", not "25000.00");
// gonum's default ticks left two labels on a 0-30000 axis.
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	step := math.Pow(10, math.Floor(math.Log10((hi-lo)/5)))
	for _, m := range []float64{1, 2, 5, 10} {
		if (hi-lo)/(m*step) <= 10 {
			step *= m
			break
		}
	}
	var ts []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
		if minor := v + step/2; minor < hi {
			ts = append(ts, plot.Tick{Value: minor})
		}
	}
	return ts
}
