package report

import (
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/netmodels/netmodels/perf/cpuprof"
	"github.com/netmodels/netmodels/perf/result"
)

// Flame graphs of the where-the-time-goes profiles, one standalone SVG per
// profiled cell, linked from the report (not inlined: index.html stays
// small). Drawn here because no maintained Go library writes a flame
// graph SVG from a pprof profile: github.com/google/pprof's flame graph is
// an interactive HTML/JavaScript page served by `pprof -http`, go-torch
// (archived) piped folded stacks into Brendan Gregg's flamegraph.pl (Perl).
// What is drawn is simple: stacks merged from the root, one rectangle per
// frame, width ∝ samples, the frame's name, samples and share in a hover
// title, coloured by the frame's own where-the-time-goes class (grey: a
// helper the table charges to its caller).

const (
	flameWidth  = 1200.0
	flameRow    = 16.0
	flameTop    = 44.0 // title and legend
	flameMargin = 10.0
	// flameMinFrac: frames narrower than this share of the samples are
	// not drawn (their parent's width still counts them), as
	// flamegraph.pl's --minwidth; it bounds the file's size.
	flameMinFrac = 0.002
	// flameMaxDepth bounds the rows drawn (deeper frames are cut).
	flameMaxDepth = 64
)

// flameColors per class (the report's legend order).
var flameColors = map[string]string{
	cpuprof.Sched:    "#f2a65a",
	cpuprof.GC:       "#e15759",
	cpuprof.Syscall:  "#bab0ac",
	cpuprof.Protocol: "#59a14f",
	cpuprof.Engine:   "#4e79a7",
	cpuprof.Crypto:   "#b07aa1",
	cpuprof.Other:    "#edc948",
	flameHelper:      "#dddddd",
}

// flameLegend is the legend's order.
var flameLegend = []string{cpuprof.Sched, cpuprof.GC, cpuprof.Syscall, cpuprof.Protocol, cpuprof.Engine, cpuprof.Crypto, cpuprof.Other, flameHelper}

// flameCSS gives each class's rectangles their colour (one rule per
// class instead of attributes on every rectangle: smaller files).
func flameCSS() string {
	var b strings.Builder
	for _, c := range flameLegend {
		fmt.Fprintf(&b, " .%s{fill:%s}", c, flameColors[c])
	}
	return b.String()
}

type flameNode struct {
	name     string
	value    int64
	children map[string]*flameNode
}

func (n *flameNode) child(name string) *flameNode {
	if n.children == nil {
		n.children = map[string]*flameNode{}
	}
	c := n.children[name]
	if c == nil {
		c = &flameNode{name: name}
		n.children[name] = c
	}
	return c
}

// flameTree merges the stacks (leaf first) from the root.
func flameTree(p *cpuprof.Profile) *flameNode {
	root := &flameNode{name: "all"}
	for _, s := range p.Stacks {
		if s.CPU <= 0 {
			continue
		}
		root.value += s.CPU
		n := root
		for i := len(s.Frames) - 1; i >= 0; i-- {
			n = n.child(s.Frames[i])
			n.value += s.CPU
		}
	}
	return root
}

// flameHelper colours the frames the classification charges to their
// caller (runtime helpers such as memmove, the plain standard library).
const flameHelper = "helper"

// frameClass is the colour class of one frame by its own name.
func frameClass(fn string) string {
	if fn == "all" {
		return cpuprof.Other
	}
	c := cpuprof.ClassifyStack([]string{fn})
	if first, _, _ := strings.Cut(cpuprof.PkgPath(fn), "/"); c == cpuprof.Other && !strings.Contains(first, ".") && first != "main" {
		return flameHelper
	}
	return c
}

// writeFlame draws p as an SVG flame graph to w.
func writeFlame(w io.Writer, title string, p *cpuprof.Profile) error {
	root := flameTree(p)
	depth := 0
	var measure func(n *flameNode, d int)
	measure = func(n *flameNode, d int) {
		if root.value == 0 || float64(n.value)/float64(root.value) < flameMinFrac || d >= flameMaxDepth {
			return
		}
		depth = max(depth, d+1)
		for _, c := range n.children {
			measure(c, d+1)
		}
	}
	measure(root, 0)
	height := flameTop + float64(depth)*flameRow + flameMargin
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="monospace" font-size="11">
<style>g rect{stroke:#fff;stroke-width:0.5}%s</style>
<rect width="100%%" height="100%%" fill="#ffffff"/>
<text x="%.0f" y="16" font-size="13" font-family="sans-serif">%s</text>
`, flameWidth+2*flameMargin, height, flameWidth+2*flameMargin, height, flameCSS(), flameMargin, html.EscapeString(title))
	// Legend: the classes' colours.
	x := flameMargin
	for _, c := range flameLegend {
		label := c
		if c == flameHelper {
			label = "charged to caller"
		}
		fmt.Fprintf(&b, `<rect x="%.0f" y="24" width="10" height="10" fill="%s"/><text x="%.0f" y="33">%s</text>`+"\n", x, flameColors[c], x+14, label)
		x += 14 + 7*float64(len(label)) + 16
	}
	scale := flameWidth / float64(max(root.value, 1))
	var draw func(n *flameNode, d int, x0 float64)
	draw = func(n *flameNode, d int, x0 float64) {
		if root.value == 0 || float64(n.value)/float64(root.value) < flameMinFrac || d >= flameMaxDepth {
			return
		}
		wd := float64(n.value) * scale
		y := height - flameMargin - float64(d+1)*flameRow
		share := 100 * float64(n.value) / float64(root.value)
		name := html.EscapeString(n.name)
		fmt.Fprintf(&b, `<g><title>%s (%.1f %%, %d samples)</title><rect class="%s" x="%.1f" y="%.0f" width="%.1f" height="%.0f"/>`,
			name, share, samplesOf(n.value, p), frameClass(n.name), flameMargin+x0, y, wd, flameRow-1)
		if chars := int((wd - 4) / 6.6); chars >= 3 {
			label := shortName(n.name)
			if len(label) > chars {
				label = label[:chars-2] + ".."
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f">%s</text>`, flameMargin+x0+2, y+flameRow-4, html.EscapeString(label))
		}
		b.WriteString("</g>\n")
		// Children left to right by name, as flamegraph.pl (the order
		// means nothing; sorted, two graphs line up).
		names := make([]string, 0, len(n.children))
		for k := range n.children {
			names = append(names, k)
		}
		sort.Strings(names)
		cx := x0
		for _, k := range names {
			c := n.children[k]
			draw(c, d+1, cx)
			cx += float64(c.value) * scale
		}
	}
	draw(root, 0, 0)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// samplesOf converts a node's CPU back to samples (the profile's period).
func samplesOf(v int64, p *cpuprof.Profile) int64 {
	if p.PeriodNS <= 0 {
		return 0
	}
	return v / p.PeriodNS
}

// flameName is a cell's flame graph file beside index.html.
func flameName(c *result.Cell) string {
	base := strings.TrimSuffix(c.Profile.File, ".pb.gz")
	return "flame-" + strings.TrimPrefix(base, "profile-") + ".svg"
}

// writeFlames draws the flame graph of every cell whose profile file is in
// dir and returns the file names by scenario and target. A profile file
// that is missing (not kept) or unreadable gets no graph: the report links
// only what was drawn.
func writeFlames(run *result.Run, dir string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for _, sc := range run.Scenarios {
		for _, c := range sc.Cells {
			if c.Profile == nil || c.Profile.File == "" {
				continue
			}
			f, err := os.Open(filepath.Join(dir, c.Profile.File))
			if err != nil {
				continue // not kept (an older run, or --results elsewhere)
			}
			p, err := cpuprof.Parse(f)
			f.Close()
			if err != nil {
				continue
			}
			name := flameName(c)
			title := fmt.Sprintf("%s — %s: CPU profile of repetition %d (%d samples)", sc.ID, c.Target, c.Profile.Rep+1, c.Profile.Samples)
			g, err := os.Create(filepath.Join(dir, name))
			if err != nil {
				return nil, err
			}
			err = writeFlame(g, title, p)
			if cerr := g.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, fmt.Errorf("flame graph %s: %w", name, err)
			}
			if out[sc.ID] == nil {
				out[sc.ID] = map[string]string{}
			}
			out[sc.ID][c.Target] = name
		}
	}
	return out, nil
}

// shortName drops a function name's package path up to its last element
// ("github.com/a/impl-gnet.(*conn).flush" → "impl-gnet.(*conn).flush"):
// labels are narrow, the hover title has the whole name.
func shortName(fn string) string {
	head := fn
	if i := strings.IndexByte(head, '['); i >= 0 {
		head = head[:i]
	}
	if i := strings.LastIndexByte(head, '/'); i >= 0 {
		return fn[i+1:]
	}
	return fn
}
