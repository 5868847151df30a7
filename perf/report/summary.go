package report

import (
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/netmodels/netmodels/perf/result"
	"github.com/netmodels/netmodels/perf/stats"
)

// The summary that opens the report: a heatmap of target × headline
// scenario (each cell the target's ratio to the scenario's best anchor)
// and an engine guide, both computed from the run alone.

// HeatmapFile is the summary heatmap's file name in the run folder.
const HeatmapFile = "summary-heatmap.svg"

// heatCol is one headline scenario of the heatmap: its first headline
// metric divided by the best of its anchors that ran.
type heatCol struct {
	sc     *result.Scenario
	metric result.MetricDef
	// best is the anchor with the best median (by the metric's
	// direction); empty when no anchor ran.
	best string
}

type heatRow struct {
	target string
	anchor bool
}

// heatCell is one square. status is "ok" (ratio set), "absent" (target
// not in the run), "unsupported" (in the run, unable to take part here),
// "failed", "–" (no cell: not part of this scenario) or "no anchor".
type heatCell struct {
	status string
	ratio  float64
	// good is the ratio oriented so that above 1 is always better than
	// the anchor: the ratio for higher-is-better metrics, its inverse
	// for lower-is-better ones.
	good float64
}

type heatmap struct {
	cols  []heatCol
	rows  []heatRow
	cells [][]heatCell // [row][col]
}

// heatmapOf computes the heatmap of the run's headline scenarios; empty
// (no columns) when the run has none.
func heatmapOf(run *result.Run) heatmap {
	var h heatmap
	for _, sc := range run.Scenarios {
		m, ok := firstHeadline(sc)
		if !sc.Headline || !ok {
			continue
		}
		h.cols = append(h.cols, heatCol{sc: sc, metric: m, best: bestAnchor(sc, m)})
	}
	if len(h.cols) == 0 {
		return h
	}
	inCols := func(c *result.Cell) bool {
		for _, col := range h.cols {
			if col.sc.Cell(c.Target) == c {
				return true
			}
		}
		return false
	}
	// Engines first, then the anchors, each in order of appearance.
	for _, t := range run.TargetsWhere(func(c *result.Cell) bool { return c.Kind == result.KindEngine && inCols(c) }) {
		h.rows = append(h.rows, heatRow{target: t})
	}
	for _, t := range run.TargetsWhere(func(c *result.Cell) bool { return c.Kind == result.KindAnchor && inCols(c) }) {
		h.rows = append(h.rows, heatRow{target: t, anchor: true})
	}
	inRun := map[string]bool{}
	for _, ti := range run.Targets {
		inRun[ti.Name] = ti.Available
	}
	for _, r := range h.rows {
		var line []heatCell
		for _, col := range h.cols {
			c := col.sc.Cell(r.target)
			switch {
			case c == nil:
				line = append(line, heatCell{status: "–"})
			case c.Status == result.StatusFailed:
				line = append(line, heatCell{status: "failed"})
			case c.Status == result.StatusAbsent:
				// A target the run has (it ran elsewhere) but that sits
				// this scenario out cannot do it; one the run lacks is
				// simply absent (not built, not installed).
				if ok, known := inRun[r.target]; ok || !known && ranSomewhere(run, r.target) {
					line = append(line, heatCell{status: "unsupported"})
				} else {
					line = append(line, heatCell{status: "absent"})
				}
			case c.Status != result.StatusOK:
				line = append(line, heatCell{status: c.Status})
			case col.best == "":
				line = append(line, heatCell{status: "no anchor"})
			default:
				v, b := c.Summary[col.metric.Name], col.sc.Cell(col.best).Summary[col.metric.Name]
				if v.N == 0 || b.Median == 0 || v.Median == 0 {
					line = append(line, heatCell{status: "not measured"})
					continue
				}
				r := v.Median / b.Median
				g := r
				if col.metric.Lower {
					g = 1 / r
				}
				line = append(line, heatCell{status: result.StatusOK, ratio: r, good: g})
			}
		}
		h.cells = append(h.cells, line)
	}
	return h
}

// ranSomewhere: the target has an ok cell in some scenario of the run.
func ranSomewhere(run *result.Run, target string) bool {
	for _, sc := range run.Scenarios {
		if c := sc.Cell(target); c != nil && c.Status == result.StatusOK {
			return true
		}
	}
	return false
}

func firstHeadline(sc *result.Scenario) (result.MetricDef, bool) {
	for _, m := range sc.Metrics {
		if m.Headline {
			return m, true
		}
	}
	return result.MetricDef{}, false
}

// bestAnchor is the anchor each square is divided by: the best median of m
// among the product anchors that ran (HAProxy, ceph-mon: what an engine
// replaces in production, and what the goals are stated against), else the
// best floor (direct, raw-tcp: no proxy or a minimal server, which nothing
// with a protocol can beat); "" when no anchor ran.
func bestAnchor(sc *result.Scenario, m result.MetricDef) string {
	best, floor := "", true
	var bv float64
	for _, a := range sc.Anchors {
		c := sc.Cell(a)
		if c == nil || c.Status != result.StatusOK || !sc.Divides(a, m) || c.Summary[m.Name].N == 0 || c.Summary[m.Name].Median == 0 {
			continue
		}
		v, isFloor := c.Summary[m.Name].Median, floorAnchors[a]
		switch {
		case best == "", floor && !isFloor, floor == isFloor && better(m, v, bv):
			best, bv, floor = a, v, isFloor
		}
	}
	return best
}

// floorAnchors are the anchors that measure the machine rather than a
// product (perf/bench: RawTCP, Direct).
var floorAnchors = map[string]bool{"raw-tcp": true, "direct": true}

// heatColor maps an oriented ratio (above 1: better than the anchor) to
// a diverging blue (better) – white (equal) – orange-red (worse) scale,
// saturating at 4× either way (log scale). Blue/red rather than
// green/red: readable with the common colour-vision deficiencies.
func heatColor(good float64) string {
	t := math.Log2(good) / 2 // ±1 at 4×
	t = max(-1, min(1, t))
	white := [3]float64{0xf7, 0xf7, 0xf7}
	end := [3]float64{0x21, 0x66, 0xac} // better
	if t < 0 {
		end = [3]float64{0xb2, 0x18, 0x2b} // worse
		t = -t
	}
	// sqrt: small differences (1.1×) already show a tint.
	t = math.Sqrt(t)
	var c [3]int
	for i := range c {
		c[i] = int(math.Round(white[i] + (end[i]-white[i])*t))
	}
	return fmt.Sprintf("#%02x%02x%02x", c[0], c[1], c[2])
}

// darkFill: the cell text is drawn white on it.
func darkFill(hex string) bool {
	var r, g, b int
	fmt.Sscanf(hex, "#%02x%02x%02x", &r, &g, &b)
	return 0.299*float64(r)+0.587*float64(g)+0.114*float64(b) < 140
}

// textWidth is a conservative width of s in px at font size px: the
// widest common sans-serif fallback (DejaVu Sans) averages about 0.6 em
// per character for lower case; 0.68 leaves room for capitals and digits.
func textWidth(s string, px float64) float64 {
	return float64(len([]rune(s))) * px * 0.68
}

// wrapAt splits s after each sep into lines of at most width px (a
// single longer part is kept whole and widens its column).
func wrapAt(s, sep string, width, px float64) []string {
	parts := strings.SplitAfter(s, sep)
	var lines []string
	cur := ""
	for _, p := range parts {
		if cur != "" && textWidth(cur+p, px) > width {
			lines = append(lines, cur)
			cur = ""
		}
		cur += p
	}
	return append(lines, cur)
}

// svg draws the heatmap. Every size comes from the labels' conservative
// widths, so nothing is clipped whatever font the browser substitutes.
func (h heatmap) svg() string {
	const (
		font   = 12.0
		small  = 10.5
		cellH  = 30.0
		pad    = 8.0
		minCol = 96.0
	)
	lineH := font + 3
	rowLabelW := 0.0
	for _, r := range h.rows {
		label := r.target
		if r.anchor {
			label += " (anchor)"
		}
		rowLabelW = max(rowLabelW, textWidth(label, font))
	}
	rowLabelW += 2 * pad
	// A column head is the scenario ID (wrapped at dashes), the metric
	// (wrapped at underscores), its unit and direction, and the anchor.
	colW := minCol
	for _, c := range h.cols {
		colW = max(colW, textWidth("unsupported", small)+pad, textWidth(unitLine(c.metric), small)+pad, textWidth(anchorLine(c), small)+pad)
		for _, l := range wrapAt(c.sc.ID, "-", minCol-pad, font) {
			colW = max(colW, textWidth(l, font)+pad)
		}
		for _, l := range wrapAt(c.metric.Name, "_", minCol-pad, small) {
			colW = max(colW, textWidth(l, small)+pad)
		}
	}
	idLines, mLines := 0, 0
	for _, c := range h.cols {
		idLines = max(idLines, len(wrapAt(c.sc.ID, "-", colW-pad, font)))
		mLines = max(mLines, len(wrapAt(c.metric.Name, "_", colW-pad, small)))
	}
	// The last head line's baseline is at pad + (idLines+mLines+2)·lineH;
	// a further pad keeps its descenders off the first row.
	headH := float64(idLines+mLines+2)*lineH + 2*pad
	legendH := 3 * lineH
	width := rowLabelW + float64(len(h.cols))*colW + pad
	height := headH + float64(len(h.rows))*cellH + legendH + 2*pad
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" font-size="%.0f">`+"\n",
		width, height, width, height, font)
	b.WriteString(`<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#ccc" stroke-width="2"/></pattern></defs>` + "\n")
	fmt.Fprintf(&b, `<rect width="%.0f" height="%.0f" fill="#fff"/>`+"\n", width, height)
	// Column heads: the scenario ID wrapped at dashes, its metric and
	// the anchor it is divided by.
	for j, c := range h.cols {
		x := rowLabelW + float64(j)*colW + colW/2
		y := pad + lineH
		for _, l := range wrapAt(c.sc.ID, "-", colW-pad, font) {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, y, html.EscapeString(l))
			y += lineH
		}
		y = pad + float64(idLines+1)*lineH
		lines := append(wrapAt(c.metric.Name, "_", colW-pad, small), unitLine(c.metric), anchorLine(c))
		for _, l := range lines {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="%.1f" fill="#444">%s</text>`+"\n", x, y, small, html.EscapeString(l))
			y += lineH
		}
	}
	for i, r := range h.rows {
		y := headH + float64(i)*cellH
		label := r.target
		fill := "#000"
		if r.anchor {
			label += " (anchor)"
			fill = "#666"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s">%s</text>`+"\n", pad, y+cellH/2+font/3, fill, html.EscapeString(label))
		for j, c := range h.cells[i] {
			x := rowLabelW + float64(j)*colW
			bg, fg, text, extra := "#fff", "#000", c.status, ""
			switch {
			case c.status == result.StatusOK && r.anchor:
				// Anchors are the yardstick, not contestants: grey, with
				// their ratio for reference.
				bg, fg, text = "#d9d9d9", "#333", num(c.ratio)+"×"
			case c.status == result.StatusOK:
				bg, text = heatColor(c.good), num(c.ratio)+"×"
				if darkFill(bg) {
					fg = "#fff"
				}
			case c.status == "failed":
				bg, fg, text, extra = "#fff", "#b2182b", "FAILED", ` stroke="#b2182b" stroke-width="2"`
			case c.status == "absent" || c.status == "unsupported":
				bg, fg = "url(#hatch)", "#555"
			case c.status == "–":
				bg, fg = "#fff", "#999"
			default:
				bg, fg = "#f0f0f0", "#555"
			}
			if extra == "" {
				extra = ` stroke="#fff" stroke-width="1"`
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"%s/>`+"\n", x+1, y+1, colW-2, cellH-2, bg, extra)
			size := font
			if c.status != result.StatusOK {
				size = small
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="%.1f" fill="%s">%s</text>`+"\n", x+colW/2, y+cellH/2+size/3, size, fg, html.EscapeString(text))
		}
	}
	// Legend: the colour scale, below the grid (never over it).
	ly := headH + float64(len(h.rows))*cellH + pad + lineH
	lx := rowLabelW
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="%.1f" fill="#444">colour: ratio to the best anchor, oriented by the metric (↓ lower is better, ↑ higher is better)</text>`+"\n", pad, ly, small)
	ly += lineH / 2
	steps := []float64{0.25, 0.5, 0.8, 1, 1.25, 2, 4}
	labels := make([]string, len(steps))
	sw := 52.0
	for k, g := range steps {
		switch {
		case g < 1:
			labels[k] = num(1/g) + "× worse"
		case g > 1:
			labels[k] = num(g) + "× better"
		default:
			labels[k] = "equal"
		}
		sw = max(sw, textWidth(labels[k], small)+4)
	}
	labels[0], labels[len(labels)-1] = "≥"+labels[0], "≥"+labels[len(labels)-1]
	sw = max(sw, textWidth(labels[0], small)+4, textWidth(labels[len(labels)-1], small)+4)
	for k, g := range steps {
		x := lx + float64(k)*sw
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x, ly, sw-2, lineH*0.8, heatColor(g))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="%.1f" fill="#444">%s</text>`+"\n", x+sw/2, ly+lineH*1.7, small, html.EscapeString(labels[k]))
	}
	b.WriteString("</svg>\n")
	// The legend row may be wider than the grid: widen the picture.
	out := b.String()
	if need := lx + float64(len(steps))*sw + pad; need > width {
		out = strings.Replace(out, fmt.Sprintf(`width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f"`, width, height, width, height),
			fmt.Sprintf(`width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f"`, need, height, need, height), 1)
		out = strings.Replace(out, fmt.Sprintf(`<rect width="%.0f" height="%.0f" fill="#fff"/>`, width, height),
			fmt.Sprintf(`<rect width="%.0f" height="%.0f" fill="#fff"/>`, need, height), 1)
	}
	return out
}

// unitLine is "[µs] ↓": the unit and which way is better.
func unitLine(m result.MetricDef) string {
	if m.Lower {
		return "[" + m.Unit + "] ↓"
	}
	return "[" + m.Unit + "] ↑"
}

// anchorLine names what the column is divided by.
func anchorLine(c heatCol) string {
	if c.best == "" {
		return "no anchor ran"
	}
	return "÷ " + c.best
}

// writeHeatmap writes the summary heatmap into dir when the run has
// headline scenarios; it reports whether it did.
func writeHeatmap(run *result.Run, dir string) (bool, error) {
	h := heatmapOf(run)
	if len(h.cols) == 0 {
		return false, nil
	}
	if err := os.WriteFile(filepath.Join(dir, HeatmapFile), []byte(h.svg()), 0o644); err != nil {
		return false, fmt.Errorf("summary heatmap: %w", err)
	}
	return true, nil
}

// sectionID is the HTML id of a scenario's section (the guide links to it).
func sectionID(scenarioID string) string {
	var b strings.Builder
	b.WriteString("sc-")
	for _, r := range scenarioID {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// guideCat is one question the engine guide answers, with the headline
// scenario and metric that answer it.
type guideCat struct {
	what     string // "lowest small-message latency"
	how      string // what was measured, in words
	scenario string
	metric   string
	// extra turns the winner's median into a derived figure, if any.
	extra func(stats.Summary) string
}

// guideCats are the guide's questions in the order printed. A question
// whose scenario is not in the run is printed as skipped.
var guideCats = []guideCat{
	{what: "lowest small-message latency", how: "msgr1 KEEPALIVE2 ping-pong, p50", scenario: "msgr-keepalive-pingpong-pinned", metric: "p50_us"},
	{what: "lowest messenger latency with payload", how: "msgr1 4 KiB ECHO ping-pong, p50", scenario: "msgr-pingpong-4KiB-pinned", metric: "p50_us"},
	{what: "highest messenger message rate", how: "pipelined KEEPALIVE2", scenario: "msgr-keepalive-pipelined", metric: "rate"},
	{what: "lowest proxy latency", how: "64 B request/response through the proxy, p50", scenario: "proxy-pingpong-64B-pinned", metric: "p50_us"},
	{what: "bulk relay", how: "one stream through the proxy", scenario: "proxy-stream-1-pinned", metric: "gbps"},
	{what: "most proxy load within 1 ms p99", how: "64 B request/response, the latency-vs-load ramp's knee", scenario: "proxy-ramp-64B-pinned", metric: "knee_per_s"},
	{what: "most messenger load within 2 ms p99", how: "4 KiB ECHO, the latency-vs-load ramp's knee", scenario: "msgr-ramp-4KiB", metric: "knee_per_s"},
	{what: "fastest connection setup", how: "new proxied connections per second", scenario: "proxy-connrate", metric: "conns_per_s"},
	{what: "most connections per GB", how: "RSS per idle proxied connection", scenario: "proxy-idle", metric: "server_rss_kb_per_conn", extra: perGiB},
	{what: "cheapest TLS handshakes", how: "server CPU per ECDSA handshake", scenario: "tls-handshake-ecdsa", metric: "server_cpu_us_per_conn"},
	{what: "TLS bulk relay", how: "one TLS stream terminated by the proxy", scenario: "tls-stream-1-pinned", metric: "gbps"},
	{what: "most TLS sessions per GB", how: "RSS per idle TLS session", scenario: "tls-idle", metric: "server_rss_kb_per_conn", extra: perGiB},
}

// perGiB turns KiB per connection into connections per GiB.
func perGiB(s stats.Summary) string {
	if s.Median <= 0 {
		return ""
	}
	return fmt.Sprintf("≈ %s connections per GiB", qty(float64(1<<20)/s.Median))
}

// qty is num with k and M for the large rates a guide line quotes
// (5.91 M msg/s, not 5906018).
func qty(v float64) string { return scale(v)(v) }

// scale is the formatter for numbers of ref's magnitude: one guide line
// prints all its figures of a unit in one scale (6.91 k beside 16.0 k).
func scale(ref float64) func(float64) string {
	switch a := math.Abs(ref); {
	case a >= 1e6:
		return func(v float64) string { return num(v/1e6) + " M" }
	case a >= 1e4:
		return func(v float64) string { return num(v/1e3) + " k" }
	}
	return num
}

// ciText is the interval of s, "CI lo–hi" (or "one repetition").
func ciText(s stats.Summary, f func(float64) string) string {
	if s.N <= 1 {
		return "one repetition, no CI"
	}
	return fmt.Sprintf("CI %s–%s", f(s.Lo), f(s.Hi))
}

// overlap: the confidence intervals of a and b share a point.
func overlap(a, b stats.Summary) bool {
	return a.Lo <= b.Hi && b.Lo <= a.Hi
}

// guideLines answers every guide question from the run, one Markdown
// line each.
func guideLines(run *result.Run) []string {
	var out []string
	for _, g := range guideCats {
		out = append(out, guideLine(run, g))
	}
	return out
}

func guideLine(run *result.Run, g guideCat) string {
	head := fmt.Sprintf("**%s** (%s)", g.what, g.how)
	sc := run.Scenario(g.scenario)
	if sc == nil {
		return fmt.Sprintf("%s: skipped, scenario `%s` is not in this run", head, g.scenario)
	}
	var m result.MetricDef
	found := false
	for _, d := range sc.Metrics {
		if d.Name == g.metric {
			m, found = d, true
		}
	}
	link := fmt.Sprintf("[evidence](#%s)", sectionID(sc.ID))
	if !found {
		return fmt.Sprintf("%s: skipped, scenario `%s` has no %s metric — %s", head, sc.ID, g.metric, link)
	}
	type entry struct {
		target string
		s      stats.Summary
	}
	var ranked []entry
	for _, c := range sc.Cells {
		s, ok := c.Summary[m.Name]
		// An engine at a --baseline commit is the change's reference,
		// not a choice the guide offers.
		if _, label := result.SplitBaseline(c.Target); label != "" {
			continue
		}
		if c.Kind != result.KindEngine || c.Status != result.StatusOK || !ok || s.N == 0 {
			continue
		}
		i := len(ranked)
		for i > 0 && better(m, s.Median, ranked[i-1].s.Median) {
			i--
		}
		ranked = append(ranked[:i], append([]entry{{c.Target, s}}, ranked[i:]...)...)
	}
	if len(ranked) == 0 {
		return fmt.Sprintf("%s: no engine measured it (every engine cell of `%s` is absent or failed) — %s", head, sc.ID, link)
	}
	w := ranked[0]
	var anchors []string
	top := w.s.Median
	for _, a := range sc.Anchors {
		if ac := sc.Cell(a); ac != nil && ac.Status == result.StatusOK && ac.Summary[m.Name].N > 0 {
			anchors = append(anchors, a)
			top = max(top, ac.Summary[m.Name].Median)
		}
	}
	f := scale(top)
	line := fmt.Sprintf("%s: **%s**, %s %s (%s)", head, w.target, f(w.s.Median), m.Unit, ciText(w.s, f))
	if g.extra != nil {
		if x := g.extra(w.s); x != "" {
			line += ", " + x
		}
	}
	if len(ranked) > 1 {
		r := ranked[1]
		tie := "CIs apart"
		if overlap(w.s, r.s) {
			tie = "CIs overlap: not a clear win"
		}
		line += fmt.Sprintf("; next %s %s %s (%s)", r.target, f(r.s.Median), m.Unit, tie)
	}
	var vs []string
	for _, a := range anchors {
		as := sc.Cell(a).Summary[m.Name]
		vs = append(vs, fmt.Sprintf("%s %s %s → %s", a, f(as.Median), m.Unit, ratioText(w.s, as)))
	}
	if len(vs) > 0 {
		line += "; vs " + strings.Join(vs, ", ")
	} else {
		line += "; no anchor ran"
	}
	return line + " — " + link
}

// summarySections are the report's opening: the heatmap, then the guide.
// nil when the run has no headline scenario.
func summarySections(run *result.Run) []section {
	h := heatmapOf(run)
	if len(h.cols) == 0 {
		return nil
	}
	s := section{level: 2, title: "Summary", id: "summary"}
	s.paras = append(s.paras, "Each square is the target's first headline metric divided by the best anchor of that scenario (the anchor named under the column; the arrow says whether lower or higher is better). "+
		"Blue: better than that anchor, red: worse, whatever the metric's direction; anchors are the grey rows. "+
		"The anchor is the product an engine stands in for where the scenario has one (HAProxy, ceph-mon), else the floor (raw-tcp: a minimal server); the guide gives the ratio to every anchor, direct (no proxy at all) included. "+
		"Hatched: absent (not in this run) or unsupported (the target cannot take part in that scenario; reason under the scenario); FAILED: it ran and failed; –: not part of the scenario.")
	s.images = []string{HeatmapFile}
	g := section{level: 3, title: "Engine guide", id: "guide"}
	g.paras = append(g.paras, "The best engine for each question, from this run's headline scenarios: its median and 95 % CI, the runner-up, and its ratio to each anchor (medians divided, bounds from both CIs). The link leads to the scenario's tables and charts.")
	g.after = guideLines(run)
	return []section{s, g}
}
