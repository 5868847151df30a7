package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

type matrixCase struct {
	ID    string `json:"id"`
	Kind  Kind   `json:"kind"`
	Spec  string `json:"spec"`
	Desc  string `json:"description"`
	Heavy bool   `json:"heavy,omitempty"`
}

type matrixJSON struct {
	Generated string   `json:"generated"`
	Engines   []string `json:"engines"`
	// Reference is the proxy cases' reference column (haproxy): its cells
	// are under Cells[Reference], its totals (proxy cases only) under
	// Summary[Reference], and Agreement says per proxy case whether each
	// engine's cell agrees with it.
	Reference string                           `json:"reference,omitempty"`
	Summary   map[string]map[string]int        `json:"summary"`
	Cases     []matrixCase                     `json:"cases"`
	Cells     map[string]map[string]CellResult `json:"cells"`
	Agreement map[string]Agreement             `json:"agreement,omitempty"`
	Interop   []InteropCell                    `json:"interop"`
	// SummaryV2 counts each engine's msgr2 variant cells ("<id>@v2"),
	// which Summary leaves out; V2 is every messenger case's plan for
	// msgr2 (v2.go): its variant runs, or why it has none.
	SummaryV2 map[string]map[string]int `json:"summary_v2"`
	V2        map[string]V2Plan         `json:"v2"`
}

// Agreement compares one proxy case's engine cells with the reference's.
type Agreement struct {
	// Reference is the reference cell's status, or "not run".
	Reference string `json:"reference"`
	// Same lists the engines whose cell agrees with the reference (both
	// pass); Differ the others, each as "engine (status)". Engines whose
	// cell did not run are in neither.
	Same   []string `json:"same,omitempty"`
	Differ []string `json:"differ,omitempty"`
	// Verdict is the matrix's one-line summary ("same as haproxy", ...).
	Verdict string `json:"verdict"`
}

// agreement compares caseID's engine cells with the reference's.
func agreement(ref string, engines []string, cells map[string]map[string]CellResult, caseID string) Agreement {
	rc, ok := cells[ref][caseID]
	a := Agreement{Reference: "not run"}
	if ok {
		a.Reference = string(rc.Status)
	}
	for _, e := range engines {
		c, ok := cells[e][caseID]
		if !ok {
			continue
		}
		if rc.Status == Pass && c.Status == Pass {
			a.Same = append(a.Same, e)
		} else {
			a.Differ = append(a.Differ, fmt.Sprintf("%s (%s)", e, c.Status))
		}
	}
	switch {
	case !ok:
		a.Verdict = ref + " not run"
	case rc.Status == Unsupported:
		a.Verdict = ref + " cannot run it"
	case rc.Status == Fail:
		a.Verdict = ref + " FAILS the case"
	case rc.Status == Differs:
		a.Verdict = "differs from " + ref + " (declared)"
	case len(a.Differ) == 0:
		a.Verdict = "same as " + ref
	default:
		a.Verdict = "same as " + ref + " except " + strings.Join(a.Differ, ", ")
	}
	return a
}

// Write writes matrix.json and matrix.md into dir.
func (r *Results) Write(dir string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cases := SortedCases(r.Cases)
	m := matrixJSON{Generated: time.Now().UTC().Format(time.RFC3339), Engines: r.Engines, Reference: r.Reference,
		Summary: map[string]map[string]int{}, Cells: r.Cells, Interop: r.Interop,
		SummaryV2: map[string]map[string]int{}, V2: map[string]V2Plan{}}
	for _, c := range cases {
		m.Cases = append(m.Cases, matrixCase{c.ID, c.Kind, c.Spec, c.Desc, c.Heavy})
		if c.Protocol == "" && c.V2.Mode != V2None {
			p := c.V2
			if p.Mode != V2Runs && p.Mode != V2Lossless {
				p.Reason = v2Reason(p)
			}
			m.V2[c.ID] = p
		}
	}
	for _, e := range r.Engines {
		for _, v2 := range []bool{false, true} {
			s := map[string]int{"pass": 0, "fail": 0, "unsupported": 0, "not_run": 0}
			for _, c := range cases {
				if (c.Protocol == "v2") != v2 {
					continue
				}
				if cell, ok := r.Cells[e][c.ID]; ok {
					s[string(cell.Status)]++
				} else {
					s["not_run"]++
				}
			}
			if v2 {
				m.SummaryV2[e] = s
			} else {
				m.Summary[e] = s
			}
		}
	}
	if r.Reference != "" {
		s := map[string]int{"pass": 0, "fail": 0, "unsupported": 0, "differs": 0, "not_run": 0}
		m.Agreement = map[string]Agreement{}
		for _, c := range cases {
			if c.Kind != KindProxy {
				continue
			}
			if cell, ok := r.Cells[r.Reference][c.ID]; ok {
				s[string(cell.Status)]++
			} else {
				s["not_run"]++
			}
			m.Agreement[c.ID] = agreement(r.Reference, r.Engines, r.Cells, c.ID)
		}
		m.Summary[r.Reference] = s
	}
	sort.SliceStable(m.Interop, func(i, j int) bool {
		a, b := m.Interop[i], m.Interop[j]
		if a.Table != b.Table {
			return a.Table < b.Table
		}
		if a.Row != b.Row {
			return a.Row < b.Row
		}
		return a.Col < b.Col
	})
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "matrix.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "matrix.md"), []byte(r.markdown(m, cases)), 0o644)
}

func mark(c CellResult, ok bool) string {
	if !ok {
		return "not run"
	}
	switch c.Status {
	case Pass:
		return "pass"
	case Fail:
		return "**FAIL**"
	case Differs:
		return "differs"
	default:
		return "unsupported"
	}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func (r *Results) markdown(m matrixJSON, cases []Case) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Conformance matrix\n\nGenerated %s by `make test` (conformance/suite). ", m.Generated)
	b.WriteString("Every case drives `bin/<engine>` only through CONTRACT.md / spec/cli.md; raw msgr1 and PROXY bytes come from the suite's own codec (conformance/internal/msgr1, conformance/internal/pp), checked against shared/vectors and the captured bytes in shared/spec.\n\n")
	b.WriteString("## Summary\n\n| engine | pass | fail | unsupported | not run |\n| --- | --- | --- | --- | --- |\n")
	for _, e := range m.Engines {
		s := m.Summary[e]
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d |\n", e, s["pass"], s["fail"], s["unsupported"], s["not_run"])
	}
	for _, e := range m.Engines {
		s := m.SummaryV2[e]
		fmt.Fprintf(&b, "| %s, msgr2 variants (`@v2`) | %d | %d | %d | %d |\n", e, s["pass"], s["fail"], s["unsupported"], s["not_run"])
	}
	if ref := m.Reference; ref != "" {
		s := m.Summary[ref]
		fmt.Fprintf(&b, "| %s (reference; proxy cases) | %d | %d | %d (+%d differ as declared) | %d |\n", ref, s["pass"], s["fail"], s["unsupported"], s["differs"], s["not_run"])
	}
	for _, kind := range []Kind{KindMsgr, KindProxy, KindInterop} {
		cols := m.Engines
		withRef := kind == KindProxy && m.Reference != ""
		withV2 := kind != KindProxy
		head := strings.Join(m.Engines, " | ")
		if withRef {
			cols = append(append([]string(nil), m.Engines...), m.Reference)
			head += " | " + m.Reference + " | vs " + m.Reference
		}
		fmt.Fprintf(&b, "\n## %s cases: engine × case\n\n", kind)
		if withRef {
			fmt.Fprintf(&b, "The %s column runs each case's configuration text on real haproxy 2.6 (`haproxy -db -f`); \"vs %s\" says whether every engine's cell agrees with it.\n\n", m.Reference, m.Reference)
		}
		n := len(cols)
		if withRef {
			n++
		}
		if withV2 {
			fmt.Fprintf(&b, "The first %d columns are msgr1; the `v2:` column group is each case's msgr2 variant `<case>@v2` (see \"msgr2: the v2 column group\").\n\n", len(m.Engines))
			for _, e := range m.Engines {
				head += " | v2: " + e
			}
			n += len(m.Engines)
		}
		fmt.Fprintf(&b, "| case | %s |\n| --- |%s\n", head, strings.Repeat(" --- |", n))
		for _, c := range cases {
			if c.Kind != kind || c.Protocol != "" {
				continue
			}
			row := []string{"`" + c.ID + "`"}
			for _, e := range cols {
				cell, ok := m.Cells[e][c.ID]
				row = append(row, mark(cell, ok))
			}
			if withRef {
				row = append(row, m.Agreement[c.ID].Verdict)
			}
			if withV2 {
				for _, e := range m.Engines {
					if c.V2.Mode == V2Runs || c.V2.Mode == V2Lossless {
						cell, ok := m.Cells[e][c.ID+"@v2"]
						row = append(row, mark(cell, ok))
					} else {
						row = append(row, v2Label(c.V2))
					}
				}
			}
			fmt.Fprintf(&b, "| %s |\n", strings.Join(row, " | "))
		}
	}
	v2Section(&b, cases)
	b.WriteString("\n## Failures, unsupported cells and declared differences, with reasons\n\n")
	any := false
	all := m.Engines
	if m.Reference != "" {
		all = append(append([]string(nil), m.Engines...), m.Reference)
	}
	for _, e := range all {
		for _, c := range cases {
			cell, ok := m.Cells[e][c.ID]
			if ok && cell.Status != Pass {
				any = true
				fmt.Fprintf(&b, "- %s / `%s` (%s): %s\n", e, c.ID, cell.Status, oneLine(cell.Reason))
			}
		}
	}
	if !any {
		b.WriteString("None.\n")
	}
	b.WriteString("\n## Interop matrix\n\n")
	tables := map[string][]InteropCell{}
	var names []string
	for _, ic := range m.Interop {
		if _, ok := tables[ic.Table]; !ok {
			names = append(names, ic.Table)
		}
		tables[ic.Table] = append(tables[ic.Table], ic)
	}
	if len(names) == 0 {
		b.WriteString("No interop cells ran.\n")
	}
	for _, n := range names {
		rows, cols := []string{}, []string{}
		seenR, seenC := map[string]bool{}, map[string]bool{}
		cell := map[[2]string]InteropCell{}
		for _, ic := range tables[n] {
			if !seenR[ic.Row] {
				seenR[ic.Row] = true
				rows = append(rows, ic.Row)
			}
			if !seenC[ic.Col] {
				seenC[ic.Col] = true
				cols = append(cols, ic.Col)
			}
			cell[[2]string{ic.Row, ic.Col}] = ic
		}
		fmt.Fprintf(&b, "### %s\n\n| | %s |\n| --- |%s\n", n, strings.Join(cols, " | "), strings.Repeat(" --- |", len(cols)))
		for _, rname := range rows {
			out := []string{"**" + rname + "**"}
			for _, c := range cols {
				ic, ok := cell[[2]string{rname, c}]
				if !ok {
					out = append(out, "–")
					continue
				}
				out = append(out, mark(ic.CellResult, ok))
			}
			fmt.Fprintf(&b, "| %s |\n", strings.Join(out, " | "))
		}
		for _, ic := range tables[n] {
			if ic.Status != Pass {
				fmt.Fprintf(&b, "\n- %s × %s (`%s`): %s", ic.Row, ic.Col, ic.CaseID, oneLine(ic.Reason))
			}
		}
		b.WriteString("\n\n")
	}
	b.WriteString("## Cases\n\n| id | kind | spec | description |\n| --- | --- | --- | --- |\n")
	for _, c := range cases {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", c.ID, c.Kind, oneLine(c.Spec), oneLine(c.Desc))
	}
	return b.String()
}
