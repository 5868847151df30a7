package report

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/netmodels/netmodels/perf/headless"
)

// SummarySelector picks the page's summary, published as summary.png:
// its heading (h2#summary), which headless.Screenshot shoots with the
// whole section (heatmap and engine guide, down to the next h2); a page
// without one is shot at its first screen (1280×2000 window).
const SummarySelector = "#summary"

// WriteSummaryPNG loads dir/index.html in headless Chromium at a 1280 px
// wide window and writes dir/summary.png, the screenshot of its summary.
// It returns what the page check found wrong (images not loaded, overflow;
// see headless.Report), for the caller to print, and headless.ErrNotFound
// (wrapped) when Chromium is not installed.
func WriteSummaryPNG(ctx context.Context, dir string) (problems []string, err error) {
	exe, err := headless.Find()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	b, err := headless.Start(ctx, exe, 1280, 2000)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	if err := b.Load(dir, "index.html"); err != nil {
		return nil, err
	}
	r, err := b.Check()
	if err != nil {
		return nil, err
	}
	png, err := b.Screenshot(SummarySelector)
	if err != nil {
		return r.Problems(), err
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.png"), png, 0o644); err != nil {
		return r.Problems(), fmt.Errorf("write summary.png: %w", err)
	}
	return r.Problems(), b.Close()
}
