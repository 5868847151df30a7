package report

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/netmodels/netmodels/perf/result"
)

// Write generates run.json, report.md and the SVG charts in dir
// (results/<id>/). index.html is rendered for results/latest only
// (Publish): a run's folder keeps its data, its Markdown report and its
// charts, and `perf report --html` renders its page again when wanted.
func Write(run *result.Run, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := run.Save(filepath.Join(dir, "run.json")); err != nil {
		return err
	}
	return Render(run, dir, false)
}

// Render regenerates the report files of dir from run (run.json
// untouched): report.md, the charts and flame graphs, and with withHTML
// index.html.
func Render(run *result.Run, dir string, withHTML bool) error {
	charts, err := writeCharts(run, dir)
	if err != nil {
		return fmt.Errorf("charts for %s: %w", run.ID, err)
	}
	flames, err := writeFlames(run, dir)
	if err != nil {
		return fmt.Errorf("flame graphs for %s: %w", run.ID, err)
	}
	d := build(run, charts, flames)
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(d.markdown("")), 0o644); err != nil {
		return err
	}
	if !withHTML {
		return nil
	}
	return os.WriteFile(filepath.Join(dir, "index.html"), []byte(d.html()), 0o644)
}

// Publish makes resultsDir/latest a copy of runDir with the HTML page,
// and regenerates resultsDir/README.md: the latest report (charts linked
// into latest/) and the list of every run in the folder. The page is for
// latest only: an index.html left in another run's folder (written by
// harnesses before this rule) is removed.
func Publish(run *result.Run, resultsDir, runDir string) error {
	latest := filepath.Join(resultsDir, "latest")
	if err := os.RemoveAll(latest); err != nil {
		return err
	}
	if err := os.MkdirAll(latest, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(runDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(runDir, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(latest, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	charts, err := writeCharts(run, latest)
	if err != nil {
		return err
	}
	flames, err := writeFlames(run, latest)
	if err != nil {
		return err
	}
	d := build(run, charts, flames)
	if err := os.WriteFile(filepath.Join(latest, "index.html"), []byte(d.html()), 0o644); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(d.markdown("latest/"))
	b.WriteString("## All runs in this folder\n\n")
	runs, _ := os.ReadDir(resultsDir)
	var ids []string
	for _, e := range runs {
		if e.IsDir() && e.Name() != "latest" {
			if _, err := os.Stat(filepath.Join(resultsDir, e.Name(), "run.json")); err == nil {
				ids = append(ids, e.Name())
				if err := os.Remove(filepath.Join(resultsDir, e.Name(), "index.html")); err != nil && !os.IsNotExist(err) {
					return err
				}
			}
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	for _, id := range ids {
		what := ""
		if r, err := result.Load(filepath.Join(resultsDir, id, "run.json")); err == nil {
			what = fmt.Sprintf(" — %s suite, %d scenarios", r.Suite, len(r.Scenarios))
		}
		fmt.Fprintf(&b, "- [%s](%s/report.md)%s ([raw](%s/run.json))\n", id, id, what, id)
	}
	b.WriteString("\nThe HTML page is rendered for [latest](latest/index.html) only; `make report RUN=results/<id>` re-renders a run's report.md and charts (`go run ./perf/cmd/perf report --html results/<id>` its page too).\n")
	b.WriteString("\nCompare two runs: `go run ./perf/cmd/perf compare results/OLD results/NEW`.\n")
	if _, err := os.Stat(filepath.Join(resultsDir, "conformance", "matrix.md")); err == nil {
		b.WriteString("\nThe conformance matrix (written by the conformance suite, not by perf) is in [conformance/matrix.md](conformance/matrix.md).\n")
	}
	return os.WriteFile(filepath.Join(resultsDir, "README.md"), []byte(b.String()), 0o644)
}
