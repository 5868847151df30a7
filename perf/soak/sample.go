package soak

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/promscrape"
	"github.com/netmodels/netmodels/core/supervise"
)

// Where a process's goroutine count comes from.
const (
	// SourceMetrics: go_goroutines from the process's Prometheus /metrics
	// (msgr-server and proxy with --metrics).
	SourceMetrics = "go_goroutines"
	// SourceThreads: the Threads line of /proc/PID/status, for a process
	// without a metrics endpoint (msgr-client). OS threads, not
	// goroutines: a goroutine leak shows there only if the leaked
	// goroutines block in system calls.
	SourceThreads = "threads"
)

// Sample is one process at one instant.
type Sample struct {
	T          float64 // seconds since the engine's soak began
	RSS        int64   // VmRSS, bytes
	FDs        int     // entries in /proc/PID/fd
	Goroutines int     // per Watched.Source
	Threads    int     // Threads in /proc/PID/status
}

// Watched is one sampled process and its series.
type Watched struct {
	Role string // msgr-server, msgr-client, proxy
	PID  int
	// MetricsURL (http://HOST:PORT/metrics), when the process serves one:
	// the goroutine count is its go_goroutines; otherwise its threads.
	MetricsURL string
	Source     string

	proc    *supervise.Proc
	mu      sync.Mutex
	samples []Sample
	errs    int    // samples that could not be taken (the process gone, a scrape failed)
	lastErr string // the last reason
}

// NewWatched watches proc under role; metricsURL may be empty.
func NewWatched(role string, proc *supervise.Proc, metricsURL string) *Watched {
	w := &Watched{Role: role, PID: proc.PID(), MetricsURL: metricsURL, Source: SourceThreads, proc: proc}
	if metricsURL != "" {
		w.Source = SourceMetrics
	}
	return w
}

// Samples is a copy of the series so far.
func (w *Watched) Samples() []Sample {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Sample(nil), w.samples...)
}

// Misses is how many samples could not be taken, and the last reason.
func (w *Watched) Misses() (int, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.errs, w.lastErr
}

// sample takes one sample at t; a process that exited is skipped.
func (w *Watched) sample(ctx context.Context, t float64) {
	if w.proc.Exited() {
		return
	}
	s, err := take(ctx, w.PID, w.MetricsURL)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if w.proc.Exited() || ctx.Err() != nil || errors.Is(err, supervise.ErrNoProc) {
			return // it ended meanwhile (msgr-client at the end of its share), reaped or not
		}
		w.errs++
		w.lastErr = err.Error()
		return
	}
	s.T = t
	w.samples = append(w.samples, s)
}

// take reads /proc/PID/status, counts /proc/PID/fd and, with a metrics
// URL, scrapes go_goroutines (within 800 ms: a sample a second).
func take(ctx context.Context, pid int, metricsURL string) (Sample, error) {
	var s Sample
	u, err := supervise.ReadUsage(pid)
	if err != nil {
		return s, err
	}
	if u.RSSBytes == 0 {
		return s, fmt.Errorf("pid %d has no memory: exiting", pid)
	}
	s.RSS, s.Threads, s.Goroutines = u.RSSBytes, u.Threads, u.Threads
	if s.FDs, err = CountFDs(pid); err != nil || s.FDs == 0 {
		// No descriptor at all: it exited between the two reads.
		return s, fmt.Errorf("pid %d: descriptors: %w", pid, cmp.Or(err, supervise.ErrNoProc))
	}
	if metricsURL != "" {
		sctx, cancel := context.WithTimeout(ctx, 800*time.Millisecond)
		defer cancel()
		ms, err := promscrape.Get(sctx, metricsURL)
		if err != nil {
			return s, err
		}
		g, ok := promscrape.Values(ms)["go_goroutines"]
		if !ok {
			return s, fmt.Errorf("%s has no go_goroutines", metricsURL)
		}
		s.Goroutines = int(g)
	}
	return s, nil
}

// CountFDs is the number of open descriptors of pid (/proc/PID/fd).
func CountFDs(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	return len(names), err
}

// Sampler samples every watched process once a second until Stop.
type Sampler struct {
	start time.Time
	mu    sync.Mutex
	ws    []*Watched
	stop  chan struct{}
	done  chan struct{}
}

// StartSampler begins sampling; t = 0 is start.
func StartSampler(ctx context.Context, start time.Time) *Sampler {
	s := &Sampler{start: start, stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop(ctx)
	return s
}

// Add watches w from the next tick on (not at once: a process that has
// just printed READY, or not even that, is still starting).
func (s *Sampler) Add(w *Watched) {
	s.mu.Lock()
	s.ws = append(s.ws, w)
	s.mu.Unlock()
}

func (s *Sampler) loop(ctx context.Context) {
	defer close(s.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-ctx.Done():
			return
		case now := <-tick.C:
			s.mu.Lock()
			ws := append([]*Watched(nil), s.ws...)
			s.mu.Unlock()
			t := now.Sub(s.start).Seconds()
			var wg sync.WaitGroup
			for _, w := range ws {
				wg.Go(func() { w.sample(ctx, t) })
			}
			wg.Wait()
		}
	}
}

// watched is every process sampled.
func (s *Sampler) watched() []*Watched {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Watched(nil), s.ws...)
}

// Stop ends sampling and waits for the loop.
func (s *Sampler) Stop() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}
