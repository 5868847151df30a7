package report

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/perf/result"
)

// synthCell is a cell whose metric m has five repetitions spread ±spread
// around v.
func synthCell(target, kind, m string, v, spread float64) *result.Cell {
	c := &result.Cell{Target: target, Kind: kind, Status: result.StatusOK}
	for _, d := range []float64{-2, -1, 0, 1, 2} {
		c.Reps = append(c.Reps, result.Rep{Metrics: map[string]float64{m: v + d*spread}})
	}
	c.Summarize(0.95)
	return c
}

// synthRun has a lower-is-better latency scenario with two anchors, a
// higher-is-better throughput scenario, and engines absent from the run,
// unsupported in one scenario and failed in another.
func synthRun() *result.Run {
	p50 := result.MetricDef{Name: "p50_us", Unit: "µs", Lower: true, Headline: true}
	gbps := result.MetricDef{Name: "gbps", Unit: "Gbit/s", Headline: true}
	return &result.Run{
		Schema: result.Schema, ID: "synthetic",
		Targets: []result.TargetInfo{
			{Name: "fast", Kind: result.KindEngine, Available: true},
			{Name: "slow", Kind: result.KindEngine, Available: true},
			{Name: "memif", Kind: result.KindEngine, Available: true},
			{Name: "gone", Kind: result.KindEngine, Reason: "not built"},
			{Name: "haproxy", Kind: result.KindAnchor, Available: true},
		},
		Scenarios: []*result.Scenario{
			{ID: "proxy-pingpong-64B-pinned", Group: "proxy", Headline: true, Metrics: []result.MetricDef{p50}, Anchors: []string{"direct", "haproxy"},
				Cells: []*result.Cell{
					synthCell("direct", result.KindAnchor, "p50_us", 10, 0.1),
					synthCell("haproxy", result.KindAnchor, "p50_us", 40, 0.5),
					synthCell("fast", result.KindEngine, "p50_us", 20, 0.2), // half the product anchor (haproxy): better
					synthCell("slow", result.KindEngine, "p50_us", 80, 1),
					{Target: "memif", Kind: result.KindEngine, Status: result.StatusAbsent, Reason: "messenger-only"},
					{Target: "gone", Kind: result.KindEngine, Status: result.StatusAbsent, Reason: "not built"},
				}},
			{ID: "proxy-stream-1-pinned", Group: "proxy", Headline: true, Metrics: []result.MetricDef{gbps}, Anchors: []string{"haproxy"},
				Cells: []*result.Cell{
					synthCell("haproxy", result.KindAnchor, "gbps", 5, 0.1),
					synthCell("fast", result.KindEngine, "gbps", 10, 0.1), // 2× the anchor: better
					synthCell("slow", result.KindEngine, "gbps", 9.9, 0.5),
					{Target: "memif", Kind: result.KindEngine, Status: result.StatusFailed, Reason: "crashed"},
				}},
			// Not headline: not in the heatmap.
			{ID: "proxy-stream-8", Group: "proxy", Metrics: []result.MetricDef{gbps}, Anchors: []string{"haproxy"},
				Cells: []*result.Cell{synthCell("haproxy", result.KindAnchor, "gbps", 5, 0.1)}},
		},
	}
}

func rgb(t *testing.T, hex string) (r, g, b int) {
	t.Helper()
	if _, err := fmt.Sscanf(hex, "#%02x%02x%02x", &r, &g, &b); err != nil {
		t.Fatalf("colour %q: %v", hex, err)
	}
	return
}

func TestHeatmapColoursFollowTheMetricsDirection(t *testing.T) {
	h := heatmapOf(synthRun())
	if len(h.cols) != 2 {
		t.Fatalf("columns = %d, want the 2 headline scenarios", len(h.cols))
	}
	if h.cols[0].best != "haproxy" || h.cols[1].best != "haproxy" {
		t.Fatalf("best anchors = %q, %q; want haproxy (the product, not the faster direct floor), haproxy", h.cols[0].best, h.cols[1].best)
	}
	row := map[string]int{}
	for i, r := range h.rows {
		row[r.target] = i
	}
	for _, tc := range []struct {
		name      string
		target    string
		col       int
		wantRatio float64
		better    bool
	}{
		{"latency half the anchor's is better", "fast", 0, 0.5, true},
		{"latency 2× the anchor's is worse", "slow", 0, 2, false},
		{"throughput 2× the anchor is better", "fast", 1, 2, true},
		{"throughput 1.98× the anchor is better", "slow", 1, 1.98, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.cells[row[tc.target]][tc.col]
			if c.status != result.StatusOK || c.ratio < tc.wantRatio*0.99 || c.ratio > tc.wantRatio*1.01 {
				t.Fatalf("cell = %+v, want ratio %v", c, tc.wantRatio)
			}
			r, _, b := rgb(t, heatColor(c.good))
			if tc.better != (b > r) {
				t.Errorf("colour %s (r %d, b %d): better = %v, want %v", heatColor(c.good), r, b, b > r, tc.better)
			}
		})
	}
	// Equal is neutral; further is stronger.
	if r, g, b := rgb(t, heatColor(1)); r != g || g != b {
		t.Errorf("ratio 1 coloured %s, want a grey", heatColor(1))
	}
	_, g2, _ := rgb(t, heatColor(0.5))
	_, g8, _ := rgb(t, heatColor(0.125))
	if g8 >= g2 {
		t.Errorf("8× worse (%s) not deeper than 2× worse (%s)", heatColor(0.125), heatColor(0.5))
	}
}

func TestBestAnchorFloorsOnlyWithoutAProduct(t *testing.T) {
	p50 := result.MetricDef{Name: "p50_us", Unit: "µs", Lower: true, Headline: true}
	for _, tc := range []struct {
		name string
		sc   *result.Scenario
		want string
	}{
		{"floor only", &result.Scenario{Anchors: []string{"raw-tcp"}, Cells: []*result.Cell{synthCell("raw-tcp", result.KindAnchor, "p50_us", 10, 0.1)}}, "raw-tcp"},
		{"the faster of two products", &result.Scenario{Anchors: []string{"raw-tcp", "ceph-mon", "haproxy"}, Cells: []*result.Cell{
			synthCell("raw-tcp", result.KindAnchor, "p50_us", 10, 0.1), synthCell("ceph-mon", result.KindAnchor, "p50_us", 30, 0.1), synthCell("haproxy", result.KindAnchor, "p50_us", 20, 0.1)}}, "haproxy"},
		{"a product that failed leaves the floor", &result.Scenario{Anchors: []string{"direct", "haproxy"}, Cells: []*result.Cell{
			synthCell("direct", result.KindAnchor, "p50_us", 10, 0.1), {Target: "haproxy", Kind: result.KindAnchor, Status: result.StatusFailed}}}, "direct"},
		{"none ran", &result.Scenario{Anchors: []string{"haproxy"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := bestAnchor(tc.sc, p50); got != tc.want {
				t.Errorf("bestAnchor = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHeatmapStatuses(t *testing.T) {
	h := heatmapOf(synthRun())
	var order []string
	for _, r := range h.rows {
		order = append(order, fmt.Sprintf("%s/%v", r.target, r.anchor))
	}
	// Engines first, anchors after (grey rows).
	if got := strings.Join(order, " "); got != "fast/false slow/false memif/false gone/false direct/true haproxy/true" {
		t.Fatalf("rows = %s", got)
	}
	for _, tc := range []struct {
		row, col int
		want     string
	}{
		{2, 0, "unsupported"}, // available in the run, sits this scenario out
		{3, 0, "absent"},      // not in the run at all
		{2, 1, "failed"},
		{3, 1, "–"}, // no cell: not part of the scenario
		{4, 1, "–"},
		{4, 0, result.StatusOK}, // the best anchor itself: 1×
	} {
		if got := h.cells[tc.row][tc.col].status; got != tc.want {
			t.Errorf("cell %s × %s = %q, want %q", h.rows[tc.row].target, h.cols[tc.col].sc.ID, got, tc.want)
		}
	}
	svg := h.svg()
	for _, want := range []string{">unsupported<", ">absent<", ">FAILED<", "url(#hatch)", ">haproxy (anchor)<", ">÷ haproxy<", ">[µs] ↓<", ">[Gbit/s] ↑<", ">2.00×<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("heatmap SVG lacks %q", want)
		}
	}
	// Anchor squares are grey, never on the colour scale.
	if !strings.Contains(svg, `fill="#d9d9d9"`) {
		t.Error("anchor rows not grey")
	}
}

// TestHeatmapFitsItsLabels: every text's conservative extent lies inside
// the picture (no "rawepo" for "rawepoll").
func TestHeatmapFitsItsLabels(t *testing.T) {
	run := synthRun()
	run.Scenarios[0].ID = "msgr-keepalive-pingpong-unpinned@lossy-with-a-long-tail"
	run.Scenarios[0].Cells[2].Target = "a-very-long-engine-name@deadbeef"
	svg := heatmapOf(run).svg()
	w, _ := strconv.ParseFloat(regexp.MustCompile(`width="([0-9.]+)"`).FindStringSubmatch(svg)[1], 64)
	texts := regexp.MustCompile(`<text x="([0-9.]+)" y="[0-9.]+"( text-anchor="middle")?(?: font-size="([0-9.]+)")?[^>]*>([^<]*)</text>`).FindAllStringSubmatch(svg, -1)
	firstCol, _ := strconv.ParseFloat(regexp.MustCompile(`<rect x="([0-9.]+)" y="[0-9.]+" width="[0-9.]+" height="[0-9.]+" fill="`).FindStringSubmatch(svg)[1], 64)
	if len(texts) < 20 {
		t.Fatalf("only %d texts found", len(texts))
	}
	for _, m := range texts {
		x, _ := strconv.ParseFloat(m[1], 64)
		size := 12.0
		if m[3] != "" {
			size, _ = strconv.ParseFloat(m[3], 64)
		}
		tw := textWidth(unescape(m[4]), size)
		lo, hi := x, x+tw
		if m[2] != "" {
			lo, hi = x-tw/2, x+tw/2
		}
		if lo < 0 || hi > w {
			t.Errorf("text %q spans %.0f–%.0f, outside 0–%.0f", m[4], lo, hi, w)
		}
		// Row labels (left-aligned at the margin) end before the grid.
		if m[2] == "" && x < 10 && !strings.HasPrefix(m[4], "colour") && hi > firstCol {
			t.Errorf("row label %q ends at %.0f, the grid starts at %.0f", m[4], hi, firstCol)
		}
	}
}

func unescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'").Replace(s)
}

func TestGuide(t *testing.T) {
	run := synthRun()
	lines := guideLines(run)
	find := func(what string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, "**"+what+"**") {
				return l
			}
		}
		t.Fatalf("no guide line for %q in:\n%s", what, strings.Join(lines, "\n"))
		return ""
	}
	for _, tc := range []struct {
		what string
		want []string
		not  []string
	}{
		{"lowest proxy latency", []string{"**fast**, 20.0 µs (CI ", "next slow 80.0 µs (CIs apart)", "vs direct 10.0 µs → 2.00×", "haproxy 40.0 µs → 0.500×", "[evidence](#sc-proxy-pingpong-64B-pinned)"}, nil},
		{"bulk relay", []string{"**fast**, 10.0 Gbit/s", "next slow 9.90 Gbit/s (CIs overlap: not a clear win)", "haproxy 5.00 Gbit/s → 2.00×"}, []string{"memif"}},
		{"lowest small-message latency", []string{"skipped, scenario `msgr-keepalive-pingpong-pinned` is not in this run"}, []string{"evidence"}},
		{"cheapest TLS handshakes", []string{"skipped", "`tls-handshake-ecdsa`"}, nil},
	} {
		t.Run(tc.what, func(t *testing.T) {
			l := find(tc.what)
			for _, w := range tc.want {
				if !strings.Contains(l, w) {
					t.Errorf("line lacks %q:\n%s", w, l)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(l, n) {
					t.Errorf("line has %q:\n%s", n, l)
				}
			}
		})
	}
	// An engine at a --baseline commit is no choice: a faster one there
	// (the change made it slower) does not lead the guide.
	sc := run.Scenarios[0]
	sc.Cells = append(sc.Cells, synthCell("fast@HEAD~1", result.KindEngine, "p50_us", 15, 0.2))
	if l := guideLine(run, guideCats[3]); strings.Contains(l, "HEAD~1") || !strings.Contains(l, "**fast**, 20.0 µs") {
		t.Errorf("baseline target in the guide: %s", l)
	}
	sc.Cells = sc.Cells[:len(sc.Cells)-1]
	// A scenario whose engines all failed is reported, not skipped.
	for _, c := range run.Scenarios[1].Cells {
		if c.Kind == result.KindEngine {
			c.Status = result.StatusFailed
		}
	}
	if l := guideLine(run, guideCats[4]); !strings.Contains(l, "no engine measured it") {
		t.Errorf("all-failed scenario: %s", l)
	}
	// Connections per GB: the derived figure is printed.
	if got := perGiB(synthCell("x", result.KindEngine, "kb", 4, 0).Summary["kb"]); got != "≈ 262 k connections per GiB" {
		t.Errorf("perGiB(4 KiB) = %q", got)
	}
}

// TestSummaryOpensThePage: summary, then the guide, then what followed
// before; every guide link lands on a section of the page; report.md
// has the summary with the heatmap as an image.
func TestSummaryOpensThePage(t *testing.T) {
	run := synthRun()
	d := build(run, nil, nil)
	page := d.html()
	iSum, iGuide, iRun := strings.Index(page, `<h2 id="summary">Summary</h2>`), strings.Index(page, `<h3 id="guide">`), strings.Index(page, "<h2>Run</h2>")
	if iSum < 0 || iGuide < iSum || iRun < iGuide {
		t.Fatalf("order: summary at %d, guide at %d, run at %d", iSum, iGuide, iRun)
	}
	if !strings.Contains(page, `<img src="summary-heatmap.svg"`) {
		t.Error("page lacks the heatmap")
	}
	links := regexp.MustCompile(`href="#([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(links) < 2 {
		t.Fatalf("guide links: %v", links)
	}
	for _, l := range links {
		if !strings.Contains(page, ` id="`+l[1]+`"`) {
			t.Errorf("link #%s has no target in the page", l[1])
		}
	}
	md := d.markdown("")
	for _, want := range []string{"## Summary", "![summary-heatmap.svg](summary-heatmap.svg)", "- **bulk relay**", `<a id="sc-proxy-stream-1-pinned"></a>`} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	// No headline scenario: no summary at all.
	for _, sc := range run.Scenarios {
		sc.Headline = false
	}
	if s := summarySections(run); s != nil {
		t.Errorf("summary without headline scenarios: %+v", s)
	}
}
