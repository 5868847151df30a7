package report

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/perf/headless"
	"github.com/netmodels/netmodels/perf/result"
)

// TestPageInChromium renders the published page with the real renderer
// (Publish, as perf run does) into a temporary results folder and loads
// it in headless Chromium at a 1280 px wide window: every image loads,
// every request the page makes is served, nothing is wider than the
// window, and the screenshot (what perf run publishes as summary.png) is
// a real PNG; WriteSummaryPNG writes it. The same runs on the committed results/latest/run.json
// re-rendered, when the checkout has one. Chromium is Debian's package
// (make deps); without it the test skips, except under CI=true, where it
// fails.
func TestPageInChromium(t *testing.T) {
	exe, err := headless.Find()
	if errors.Is(err, headless.ErrNotFound) && os.Getenv("CI") != "true" {
		t.Skipf("skipped: %v", err)
	}
	if err != nil {
		t.Fatalf("the report page test needs headless Chromium under CI=true: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := headless.Start(ctx, exe, 1280, 2000)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}()

	check := func(t *testing.T, dir string) {
		if err := b.Load(dir, "index.html"); err != nil {
			t.Fatal(err)
		}
		r, err := b.Check()
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Images) == 0 {
			t.Error("the page has no image: the charts are missing")
		}
		if r.InnerWidth != 1280 {
			t.Errorf("window is %d px wide, want 1280", r.InnerWidth)
		}
		for _, p := range r.Problems() {
			t.Error(p)
		}
		shot, err := b.Screenshot(SummarySelector)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Fatal(err)
		}
		if w := img.Bounds().Dx(); w == 0 || w > 1280 {
			t.Errorf("screenshot %d px wide, want 1..1280", w)
		}
	}

	t.Run("canned", func(t *testing.T) {
		results := t.TempDir()
		run := cannedRun(1)
		runDir := filepath.Join(results, run.ID)
		if err := Write(run, runDir); err != nil {
			t.Fatal(err)
		}
		if err := Publish(run, results, runDir); err != nil {
			t.Fatal(err)
		}
		latest := filepath.Join(results, "latest")
		check(t, latest)
		// What perf run does after Publish.
		problems, err := WriteSummaryPNG(context.Background(), latest)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Error(p)
		}
		shot, err := os.ReadFile(filepath.Join(latest, "summary.png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := headless.CheckPNG(shot); err != nil {
			t.Errorf("summary.png: %v", err)
		}
	})

	// The published run has what the canned one lacks: every scenario,
	// long names, wide tables, flame graphs. Rendered again with this
	// renderer, not the committed page (written by an older one).
	t.Run("published", func(t *testing.T) {
		src := filepath.Join("..", "..", "results", "latest")
		if _, err := os.Stat(filepath.Join(src, "run.json")); err != nil {
			t.Skipf("skipped: no published run in this checkout: %v", err)
		}
		dir := t.TempDir()
		ents, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if n := e.Name(); n == "run.json" || strings.HasSuffix(n, ".pb.gz") {
				data, err := os.ReadFile(filepath.Join(src, n))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, n), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		run, err := result.Load(filepath.Join(dir, "run.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := Render(run, dir, true); err != nil {
			t.Fatal(err)
		}
		check(t, dir)
	})
}
