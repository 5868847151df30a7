package main

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/sys/unix"
)

// progress shows an mpb bar when stderr is a terminal, else one line per
// finished scenario cell (CI logs stay readable).
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	p       *mpb.Progress
	bar     *mpb.Bar
	current string
	cur     string
}

func newProgress(w *os.File) *progress {
	fi, err := w.Stat()
	tty := err == nil && fi.Mode()&os.ModeCharDevice != 0
	if tty {
		// A pseudo-terminal without a size (script(1) under a pipe) draws
		// zero-width bars: treat it as a log.
		ws, err := unix.IoctlGetWinsize(int(w.Fd()), unix.TIOCGWINSZ)
		tty = err == nil && ws.Col > 0
	}
	return &progress{w: w, tty: tty}
}

func (p *progress) Total(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		fmt.Fprintf(p.w, "perf: %d steps (cells × (warm-up + repetitions))\n", n)
		return
	}
	p.p = mpb.New(mpb.WithOutput(p.w), mpb.WithWidth(40))
	p.bar = p.p.AddBar(int64(n),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
			p.mu.Lock()
			defer p.mu.Unlock()
			return fmt.Sprintf("%-45.45s", p.cur)
		})),
		mpb.AppendDecorators(decor.CountersNoUnit("%d/%d"), decor.Name(" "), decor.Elapsed(decor.ET_STYLE_MMSS), decor.Name(" eta "), decor.AverageETA(decor.ET_STYLE_MMSS)))
}

func (p *progress) Step(scenario, target string) {
	p.mu.Lock()
	key := scenario + " / " + target
	p.cur = key
	changed := key != p.current
	p.current = key
	p.mu.Unlock()
	if p.bar != nil {
		p.bar.Increment()
		return
	}
	if changed {
		fmt.Fprintf(p.w, "perf: %s\n", key)
	}
}

func (p *progress) Logf(format string, args ...any) {
	if p.p != nil {
		fmt.Fprintf(p.p, format+"\n", args...)
		return
	}
	fmt.Fprintf(p.w, "perf: "+format+"\n", args...)
}

func (p *progress) Done() {
	if p.bar != nil {
		p.bar.Abort(false)
		p.p.Wait()
	}
}
