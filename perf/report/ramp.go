package report

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/netmodels/netmodels/perf/result"
)

// addRampChart draws a latency-vs-load scenario's chart (perf/bench
// ramp.go) into dir and lists it under the scenario in out; a scenario
// without ramp cells draws nothing.
func addRampChart(run *result.Run, sc *result.Scenario, dir string, out map[string][]string) error {
	name := "ramp-" + sc.ID + ".svg"
	ok, err := rampChart(run, sc, filepath.Join(dir, name))
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

// anchorGreys and anchorShapes tell the anchors apart without taking an
// engine's colour: grey lines, one marker shape each.
var (
	anchorGreys  = []color.Color{color.Gray{Y: 0x55}, color.Gray{Y: 0x99}, color.Gray{Y: 0x77}}
	anchorShapes = []draw.GlyphDrawer{draw.BoxGlyph{}, draw.TriangleGlyph{}, draw.CrossGlyph{}}
)

// targetColor is an engine's colour, the same in every ramp chart of the
// run: its place among the run's engines, not among the scenario's cells.
func targetColor(run *result.Run, target string) color.Color {
	i := 0
	for _, t := range run.Targets {
		if t.Kind != result.KindEngine {
			continue
		}
		if t.Name == target {
			return Color(i)
		}
		i++
	}
	return Color(i)
}

func rampChart(run *result.Run, sc *result.Scenario, path string) (bool, error) {
	p := plot.New()
	// A y label longer than the data area is tall makes gonum/plot pad
	// the axis: the medians are said in the title and the x label.
	p.Title.Text = sc.ID + ": latency against load (per step, medians of the repetitions)"
	p.X.Label.Text = "achieved rate (msg/s)"
	p.X.Tick.Marker = plainTicks{}
	p.Y.Label.Text = "latency (µs, log)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	// The legend is drawn beside the plot, not on it: a noisy run's
	// curves reach every corner of the data area.
	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	dashes := []vg.Length{vg.Points(4), vg.Points(3)}
	n, anchors := 0, 0
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
		col, shape := targetColor(run, c.Target), draw.GlyphDrawer(draw.CircleGlyph{})
		label := c.Target
		if c.Kind == result.KindAnchor {
			col, shape = anchorGreys[anchors%len(anchorGreys)], anchorShapes[anchors%len(anchorShapes)]
			label += " (anchor)"
			anchors++
		}
		l, pts, err := plotter.NewLinePoints(p99)
		if err != nil {
			return false, err
		}
		l.Color, l.Width = col, vg.Points(1.5)
		pts.Color, pts.Shape, pts.Radius = col, shape, vg.Points(2.5)
		p.Add(l, pts)
		leg.Add(label, l, pts)
		if len(p50) > 1 {
			l50, err := plotter.NewLine(p50)
			if err != nil {
				return false, err
			}
			l50.Color, l50.Width, l50.Dashes = col, vg.Points(1), dashes
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
	}
	for _, k := range []struct {
		name   string
		dashes []vg.Length
	}{{"p99 (solid)", nil}, {"p50 (dashed)", dashes}} {
		l, err := plotter.NewLine(plotter.XYs{})
		if err != nil {
			return false, err
		}
		l.Color, l.Dashes = color.Black, k.dashes
		leg.Add(k.name, l)
	}
	p.X.Min = 0
	p.Add(plotter.NewGrid())
	return true, saveWithLegend(p, &leg, 10*vg.Inch, 5*vg.Inch, path)
}

// saveWithLegend writes p as an SVG of w × h with leg in a column of its
// own on the right.
func saveWithLegend(p *plot.Plot, leg *plot.Legend, w, h vg.Length, path string) error {
	c := vgsvg.New(w, h)
	dc := draw.New(c)
	r := leg.Rectangle(dc)
	// The viewer's font may be wider than the one gonum/plot measures
	// with: a fifth more, so that no label is cut.
	lw := (r.Max.X-r.Min.X)*1.2 + vg.Points(12)
	p.Draw(draw.Crop(dc, 0, -lw, 0, 0))
	// Below the title line, level with the data area's top.
	leg.Draw(draw.Crop(dc, w-lw+vg.Points(6), 0, 0, -vg.Points(24)))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// plainTicks are gonum/plot's default ticks labelled as plain numbers
// ("25000", not "25000.00").
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}
