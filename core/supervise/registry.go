package supervise

import (
	"slices"
	"sync"
	"testing"
)

// live holds every started child until it is reaped.
var (
	liveMu sync.Mutex
	live   = map[*Proc]struct{}{}
)

func register(p *Proc) {
	liveMu.Lock()
	defer liveMu.Unlock()
	live[p] = struct{}{}
}

func unregister(p *Proc) {
	liveMu.Lock()
	defer liveMu.Unlock()
	delete(live, p)
}

// Live lists the children started through this package that have not
// been reaped yet, oldest first.
func Live() []*Proc {
	liveMu.Lock()
	defer liveMu.Unlock()
	out := make([]*Proc, 0, len(live))
	for p := range live {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *Proc) int { return a.started.Compare(b.started) })
	return out
}

// NoLeaks fails t if a child started after this call is still running
// when t's cleanups have run (call it first, so its cleanup runs last).
// A leaked child is stopped, so it does not outlive the test binary's
// other tests either. Children running before the call (a shared peer)
// are not t's.
func NoLeaks(t testing.TB) {
	t.Helper()
	before := map[*Proc]bool{}
	for _, p := range Live() {
		before[p] = true
	}
	t.Cleanup(func() {
		for _, p := range Live() {
			if before[p] {
				continue
			}
			t.Errorf("child %s (pid %d, %v) still running at the end of %s; stopping it", p.Name, p.PID(), p.Args(), t.Name())
			_ = p.Stop()
		}
	})
}
