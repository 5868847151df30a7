package soak

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/netmodels/netmodels/perf/report"
)

// Write puts the run into dir: <engine>.csv (every sample), <engine>.svg
// (the chart), soak.json (the whole Result) and summary.md.
func Write(res Result, dir, command string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, er := range res.Engines {
		if err := writeCSV(er, filepath.Join(dir, er.Engine+".csv")); err != nil {
			return err
		}
		if err := writeChart(er, filepath.Join(dir, er.Engine+".svg")); err != nil {
			return fmt.Errorf("chart %s: %w", er.Engine, err)
		}
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "soak.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "summary.md"))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	WriteSummary(w, res, command)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeCSV writes one line per sample: t_s,role,pid,rss_bytes,fds,
// goroutines,goroutine_source,threads.
func writeCSV(er EngineResult, path string) error {
	type row struct {
		w *Watched
		s Sample
	}
	var rows []row
	for _, w := range er.watched {
		for _, s := range w.Samples() {
			rows = append(rows, row{w, s})
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		switch {
		case a.s.T < b.s.T:
			return -1
		case a.s.T > b.s.T:
			return 1
		}
		return strings.Compare(a.w.Role, b.w.Role)
	})
	var b strings.Builder
	b.WriteString("t_s,role,pid,rss_bytes,fds,goroutines,goroutine_source,threads\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%.3f,%s,%d,%d,%d,%d,%s,%d\n", r.s.T, r.w.Role, r.w.PID, r.s.RSS, r.s.FDs, r.s.Goroutines, r.w.Source, r.s.Threads)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// writeChart draws (SVG, or PNG for a .png path) RSS, descriptors and goroutines over time, one line
// per process, the backend's kills as dashed verticals.
func writeChart(er EngineResult, path string) error {
	panels := []struct {
		title, unit string
		val         func(Sample) float64
	}{
		{"RSS", "MiB", func(s Sample) float64 { return float64(s.RSS) / (1 << 20) }},
		{"open descriptors", "count", func(s Sample) float64 { return float64(s.FDs) }},
		{"goroutines (msgr-client: OS threads)", "count", func(s Sample) float64 { return float64(s.Goroutines) }},
	}
	var plots [][]*plot.Plot
	for _, pn := range panels {
		p := plot.New()
		p.Title.Text = er.Engine + ": " + pn.title
		p.X.Label.Text = "time (s)"
		p.Y.Label.Text = pn.unit
		p.Legend.Top = true
		p.Legend.Left = true
		ymax := 0.0
		for i, w := range er.watched {
			var xys plotter.XYs
			for _, s := range w.Samples() {
				xys = append(xys, plotter.XY{X: s.T, Y: pn.val(s)})
				ymax = max(ymax, pn.val(s))
			}
			if len(xys) == 0 {
				continue
			}
			l, err := plotter.NewLine(xys)
			if err != nil {
				return err
			}
			l.Color = report.Color(i)
			l.Width = vg.Points(1.2)
			p.Add(l)
			p.Legend.Add(w.Role, l)
		}
		for i, t := range er.restarts {
			l, err := plotter.NewLine(plotter.XYs{{X: t, Y: 0}, {X: t, Y: ymax * 1.05}})
			if err != nil {
				return err
			}
			l.Color = report.Color(7)
			l.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
			p.Add(l)
			if i == 0 {
				p.Legend.Add("backend killed", l)
			}
		}
		p.Y.Min = 0
		p.Y.Max = max(ymax*1.4, 1) // room for the legend
		plots = append(plots, []*plot.Plot{p})
	}
	w, h := 8*vg.Inch, 10*vg.Inch
	var img vg.CanvasWriterTo = vgsvg.New(w, h)
	if filepath.Ext(path) == ".png" {
		img = vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	}
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	cs := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(cs[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := img.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

// WriteSummary writes the Markdown summary.
func WriteSummary(w io.Writer, res Result, command string) {
	failed := res.Failed()
	outcome := "PASS"
	if len(failed) > 0 {
		outcome = "FAIL"
	}
	fmt.Fprintf(w, "# Soak: %s\n\n", outcome)
	fmt.Fprintf(w, "`%s`, started %s: %s per engine, one engine after another (messenger and proxy at once), target %d messages per engine (1,000,000 per 10 minutes, scaled).\n\n",
		command, res.Started.Format("2006-01-02 15:04 UTC"), res.Share, res.Target)
	for _, f := range failed {
		fmt.Fprintf(w, "- FAIL %s\n", f)
	}
	if len(failed) > 0 {
		fmt.Fprintln(w)
	}

	fmt.Fprintf(w, "## Messenger\n\nLossless client and stateful server, both failing one socket operation in %d (`--inject-socket-failures %d`), %d connections × depth %d, sizes %s bytes. Exactly once and in order is msgr-client's own check (exit 0, received = sent, no error: every reply's tid, sequence and bytes); reconnects are the server's re-accepts (`msgr_accepted_connections_total` − %d).\n\n",
		InjectEvery, InjectEvery, msgrConns, msgrDepth, msgrSize, msgrConns)
	fmt.Fprintln(w, "| engine | messages received / sent | target reached | exactly once, in order | msgs/s | reconnects | failures injected (server) | resent (server) | duplicates dropped (server) |")
	fmt.Fprintln(w, "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |")
	for _, e := range res.Engines {
		m := e.Msgr
		fmt.Fprintf(w, "| %s | %d / %d | %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f |\n", e.Engine, m.Received, m.Sent,
			yesNo(m.Reached), yesNo(m.Exact), m.MsgsPerS, m.Reconnects, m.Injected, m.Resent, m.Duplicates)
	}

	fmt.Fprintf(w, "\n## Proxy\n\n%d relay sessions at a time through the proxy to an echo backend that is SIGKILLed by PID and started again on its port %d times (down %v each), every byte that comes back checked. Recovery: from the new backend's READY to the next verified round trip.\n\n",
		relayWorkers, Restarts, backendDown)
	fmt.Fprintln(w, "| engine | round trips verified | MiB verified | sessions: complete / cut / refused | restarts | recovery max (ms) | stalls | corrupt | cut while the backend was up |")
	fmt.Fprintln(w, "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
	for _, e := range res.Engines {
		p := e.Proxy
		rec := 0.0
		for _, r := range p.Restarts {
			if r.RecoverMs < 0 {
				rec = -1
				break
			}
			rec = max(rec, r.RecoverMs)
		}
		recS := fmt.Sprintf("%.0f", rec)
		if rec < 0 {
			recS = "never"
		}
		fmt.Fprintf(w, "| %s | %d | %s | %d / %d / %d | %d | %s | %d | %d | %d |\n", e.Engine, p.RoundTrips, mib(p.Bytes),
			p.Complete, p.Cut, p.Refused, len(p.Restarts), recS, p.Stalls, p.Corrupt, p.StrayCuts)
	}

	fmt.Fprintln(w, "\n## Processes\n\nSampled once a second. Goroutines: `go_goroutines` from the process's /metrics (msgr-server, proxy); msgr-client serves no metrics, so its column is its OS threads (/proc/PID/status).")
	fmt.Fprintln(w, "\n| engine | process | samples | peak RSS (MiB) | RSS start → end (MiB) | fds start → end | goroutines start → end | steady growth |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | --- | --- | --- | --- |")
	for _, e := range res.Engines {
		for _, p := range e.Procs {
			g := fmt.Sprintf("%d → %d", p.GStart, p.GEnd)
			if p.Source == SourceThreads {
				g += " (threads)"
			}
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s → %s | %d → %d | %s | %s |\n", e.Engine, p.Role, p.Samples, mib(p.PeakRSS),
				mib(p.RSSStart), mib(p.RSSEnd), p.FDsStart, p.FDsEnd, g, growthCell(p.Verdicts))
		}
	}
	fmt.Fprintf(w, "\nSteady growth (perf/soak/growth.go): over the second half of a process's samples, both the least-squares trend (slope × length) and the rise from the mean of its first tenth to the mean of its last tenth exceed a threshold: RSS %s, descriptors %s, goroutines %s. Fewer than %d samples in the second half: not judged.\n",
		Limits[MetricRSS], Limits[MetricFDs], Limits[MetricGoroutines], MinSamples)
	var notes []string
	for _, e := range res.Engines {
		for _, n := range e.Notes {
			notes = append(notes, e.Engine+": "+n)
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\n## Notes")
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
	fmt.Fprintln(w, "\n## Charts")
	for _, e := range res.Engines {
		fmt.Fprintf(w, "\n![%s](%s.svg)\n", e.Engine, e.Engine)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

// growthCell is "none", the metrics that grew, or "not judged".
func growthCell(vs []Verdict) string {
	var grew []string
	judged := false
	for _, v := range vs {
		judged = judged || v.Judged
		if v.Growing {
			grew = append(grew, v.Metric)
		}
	}
	switch {
	case len(grew) > 0:
		return "**" + strings.Join(grew, ", ") + "**"
	case !judged:
		return "not judged (too few samples)"
	}
	return "none"
}
