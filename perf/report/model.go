// Package report turns a run.json into report.md, index.html, SVG charts
// and results/README.md, and compares two runs. Every number in them comes
// from the run; nothing is typed by hand.
package report

import (
	"fmt"
	"math"
	"strings"

	"github.com/netmodels/netmodels/perf/result"
	"github.com/netmodels/netmodels/perf/stats"
)

// doc is the report as a list of sections, rendered to Markdown and HTML
// from the same data so the two cannot disagree.
type doc struct {
	title    string
	sections []section
}

type section struct {
	level int
	title string
	// id is the section's link target (#id in both renderings); the
	// engine guide links to the scenarios' sections.
	id string
	// warn: drawn as a warning box in HTML (the calibration flag).
	warn   bool
	paras  []string
	tables []table
	// after are paragraphs printed below the tables (failure reasons).
	after  []string
	images []string // SVG file names, relative to the run folder
	pre    string
}

type table struct {
	head []string
	rows [][]string
}

// num prints v with three significant digits (no exponent for the
// magnitudes a benchmark produces).
func num(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "–"
	case v == 0:
		return "0"
	}
	a := math.Abs(v)
	switch {
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

// summaryText is "median (lo–hi)".
func summaryText(s stats.Summary) string {
	if s.N == 0 {
		return "–"
	}
	if s.N == 1 || s.Lo == s.Hi {
		return num(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", num(s.Median), num(s.Lo), num(s.Hi))
}

// ratio of two summaries: the ratio of medians, bounded conservatively by
// the ends of both confidence intervals.
func ratioText(a, b stats.Summary) string {
	if a.N == 0 || b.N == 0 || b.Median == 0 || b.Lo <= 0 {
		return "–"
	}
	r := a.Median / b.Median
	lo, hi := a.Lo/b.Hi, a.Hi/b.Lo
	return fmt.Sprintf("%s× (%s–%s)", num(r), num(lo), num(hi))
}

func statusText(c *result.Cell) string {
	switch c.Status {
	case result.StatusAbsent:
		return "absent"
	case result.StatusFailed:
		return "**FAILED**"
	}
	return c.Status
}

func metricHead(m result.MetricDef) string {
	arrow := "↑"
	if m.Lower {
		arrow = "↓"
	}
	return fmt.Sprintf("%s [%s] %s", m.Name, m.Unit, arrow)
}

func esc(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "\n", " ")
}
