package bench

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/netmodels/netmodels/core/supervise"
	"github.com/netmodels/netmodels/perf/result"
)

// exclusiveLog records what an exclusive scenario's targets did, and how
// many of their servers were up at once.
type exclusiveLog struct {
	mu     sync.Mutex
	events []string
	up     int
	maxUp  int
}

func (l *exclusiveLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, fmt.Sprintf(format, args...))
}

// countedStop tracks a server's stop in the log.
type countedStop struct {
	l    *exclusiveLog
	name string
}

func (c countedStop) Stop() error {
	c.l.mu.Lock()
	c.l.up--
	c.l.mu.Unlock()
	c.l.add("stop %s", c.name)
	return nil
}

// TestRunExclusive: in an exclusive scenario (msgr-rados: one OSD
// address) the first target runs whole before any other starts, the
// others take turns repetition by repetition, started for each turn and
// stopped after it, so no two servers are ever up at once; the teardown
// runs after every cell has ended, and every cell has its repetitions.
func TestRunExclusive(t *testing.T) {
	supervise.NoLeaks(t)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep(1)")
	}
	l := &exclusiveLog{}
	setup := func(name string) func(int) (*rig, error) {
		return func(int) (*rig, error) {
			p, err := supervise.Start(supervise.Spec{Name: name, Path: sleep, Args: []string{"60"}})
			if err != nil {
				return nil, err
			}
			l.mu.Lock()
			l.up++
			l.maxUp = max(l.maxUp, l.up)
			l.mu.Unlock()
			l.add("start %s", name)
			g := newRig()
			g.add(p)
			g.add(countedStop{l, name}) // stopped first: procs stop in reverse
			g.measured = p
			return g, nil
		}
	}
	load := func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
		kind := "rep"
		if warm {
			kind = "warm"
		}
		l.add("%s %s", kind, g.measured.Name)
		return sample{metrics: map[string]float64{"rate": 1}, units: 1, seconds: 1}, nil
	}
	d := &scenarioDef{unit: perMsg, exclusive: true, res: result.Scenario{ID: "excl", Metrics: []result.MetricDef{mRate}},
		teardown: func() []error { l.add("teardown"); return nil }}
	for _, n := range []string{"A", "B", "C"} {
		d.targets = append(d.targets, target{name: n, kind: result.KindEngine, setup: setup(n), load: load, first: n == "A"})
	}
	r := &runner{cfg: Config{Suite: Suite{Reps: 2}, Progress: nopProgress{}, PinCPU: -1}, run: &result.Run{Method: result.Method{Confidence: 0.95}},
		absent: map[string]string{}}
	r.runScenario(context.Background(), d)

	want := strings.Join([]string{
		"start A", "warm A", "rep A", "rep A", "stop A",
		"start B", "warm B", "stop B", "start C", "warm C", "stop C",
		"start B", "rep B", "stop B", "start C", "rep C", "stop C",
		"start B", "rep B", "stop B", "start C", "rep C", "stop C",
		"teardown",
	}, "\n")
	if got := strings.Join(l.events, "\n"); got != want {
		t.Errorf("events:\n%s\nwant:\n%s", got, want)
	}
	if l.maxUp != 1 {
		t.Errorf("%d servers up at once, want 1", l.maxUp)
	}
	for _, c := range r.run.Scenarios[0].Cells {
		if c.Status != result.StatusOK || len(c.Reps) != 2 {
			t.Errorf("%s: %s %q, %d reps", c.Target, c.Status, c.Reason, len(c.Reps))
		}
	}
}
