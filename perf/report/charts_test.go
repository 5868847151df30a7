package report

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"

	"github.com/netmodels/netmodels/perf/result"
)

func TestTargetColorsAreFixed(t *testing.T) {
	engines := []string{"goroutine", "rawepoll", "gnet", "netpoll", "dpdk", "dpdk-memif"}
	seen := map[string]string{}
	for _, e := range engines {
		r, g, b, _ := TargetColor(e).RGBA()
		key := strconv.Itoa(int(r>>8)) + "," + strconv.Itoa(int(g>>8)) + "," + strconv.Itoa(int(b>>8))
		if other, ok := seen[key]; ok {
			t.Errorf("%s and %s share colour %s", e, other, key)
		}
		seen[key] = e
		if r == g && g == b {
			t.Errorf("engine %s is grey, the anchors' colour", e)
		}
	}
	for _, a := range []string{"raw-tcp", "direct", "haproxy", "ceph-mon", "ceph-osd"} {
		if r, g, b, _ := TargetColor(a).RGBA(); r != g || g != b {
			t.Errorf("anchor %s is not grey", a)
		}
	}
	// Unknown names (an engine at another commit) get a stable colour.
	if TargetColor("goroutine@abc123") != TargetColor("goroutine@abc123") {
		t.Error("unknown target's colour not stable")
	}
}

// svgTexts are the (x, size, text) of a gonum SVG's text elements and its
// width, all in points.
func svgTexts(t *testing.T, path string) (w float64, out []struct {
	x, size float64
	s       string
}) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	svg := string(b)
	w, _ = strconv.ParseFloat(regexp.MustCompile(`viewBox="0 0 ([0-9.]+) `).FindStringSubmatch(svg)[1], 64)
	if !strings.Contains(svg, "sans-serif") {
		t.Errorf("%s: no generic font fallback", filepath.Base(path))
	}
	re := regexp.MustCompile(`(?s)<text x="(-?[0-9.]+)"[^>]*font-size:([0-9.]+)px">([^<]*)</text>`)
	for _, m := range re.FindAllStringSubmatch(svg, -1) {
		x, _ := strconv.ParseFloat(m[1], 64)
		size, _ := strconv.ParseFloat(m[2], 64)
		out = append(out, struct {
			x, size float64
			s       string
		}{x, size, m[3]})
	}
	return w, out
}

// substWidth is the width of s set in DejaVu Sans, the usual substitute
// for Liberation Sans on Linux: measured 1.13–1.15 times Liberation
// Sans's width over the charts' labels; 1.2 for margin.
func substWidth(s string, size float64) float64 {
	f := font.DefaultCache.Lookup(chartFont, vg.Length(size))
	return 1.2 * float64(f.Width(s))
}

// TestChartsKeepLabelsAndLegendsClear: every text starts inside the
// picture and ends inside it even in a wider substitute font; the legend
// is right of the plot.
func TestChartsKeepLabelsAndLegendsClear(t *testing.T) {
	run := synthRun()
	sc := run.Scenarios[0]
	for _, c := range sc.Cells {
		if c.Status == result.StatusOK {
			// Percentiles printed by a client: a curve without a histogram.
			c.Summary["p99_us"] = c.Summary["p50_us"]
		}
	}
	sc.Cells = append(sc.Cells, synthCell("rawepoll", result.KindEngine, "p50_us", 30, 0.1))
	sc.Cells[len(sc.Cells)-1].Summary["p99_us"] = sc.Cells[len(sc.Cells)-1].Summary["p50_us"]
	dir := t.TempDir()
	if ok, err := latencyChart(sc, filepath.Join(dir, "lat.svg")); err != nil || !ok {
		t.Fatalf("latency chart: %v %v", ok, err)
	}
	if ok, err := barChart(sc, "p50_us", filepath.Join(dir, "bars.svg")); err != nil || !ok {
		t.Fatalf("bar chart: %v %v", ok, err)
	}
	for _, f := range []string{"lat.svg", "bars.svg"} {
		w, texts := svgTexts(t, filepath.Join(dir, f))
		if len(texts) < 5 {
			t.Fatalf("%s: %d texts", f, len(texts))
		}
		for _, tx := range texts {
			end := tx.x + substWidth(unescape(tx.s), tx.size)
			if tx.x < 0 || end > w {
				t.Errorf("%s: %q spans %.0f–%.0f pt of %.0f", f, tx.s, tx.x, end, w)
			}
		}
	}
	_, texts := svgTexts(t, filepath.Join(dir, "lat.svg"))
	var ticksRight, legendLeft float64 = 0, 1e9
	for _, tx := range texts {
		switch {
		case regexp.MustCompile(`^p[0-9.]+$`).MatchString(tx.s):
			ticksRight = max(ticksRight, tx.x+substWidth(tx.s, tx.size))
		case tx.s == "rawepoll" || strings.HasSuffix(tx.s, "(anchor)"):
			legendLeft = min(legendLeft, tx.x)
		}
	}
	if legendLeft == 1e9 || legendLeft < ticksRight {
		t.Errorf("legend starts at %.0f pt, the plot's x axis ends at %.0f pt", legendLeft, ticksRight)
	}
}
