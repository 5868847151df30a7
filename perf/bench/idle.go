package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/netmodels/netmodels/core/supervise"
	"github.com/netmodels/netmodels/perf/anchor"
	"github.com/netmodels/netmodels/perf/loadgen"
	"github.com/netmodels/netmodels/perf/procstat"
)

// idleLoad runs `perf loadgen KIND` (idle or tls-idle) against addr: it
// opens n sessions, says HOLDING, and keeps them until its stdin closes.
// The measured process's RSS is read before and while the sessions are
// held.
func (r *runner) idleLoad(ctx context.Context, g *rig, pin int, n int, kind, addr string, extra ...string) (sample, error) {
	t0, terr := procstat.Read(g.measured.PID())
	before, err := g.measured.Usage()
	if err != nil {
		return sample{}, err
	}
	argv := r.loadgenArgs(kind, append([]string{"--addr", addr, "--n", fmt.Sprint(n)}, extra...)...)
	var res loadgen.Result
	// HOLDING is the loadgen's ready line: every session has echoed
	// through, so the proxy holds both sides of each and no settling wait
	// is needed. A loadgen that fails says why in its JSON line instead.
	p, err := supervise.Start(r.clientSpec(supervise.Spec{Name: commandName(argv), Path: argv[0], Args: argv[1:], CPUs: anchor.CPUs(pin),
		Stdin: true, ReadyWord: "HOLDING", ReadyTimeout: 120 * time.Second}))
	if se, ok := err.(*supervise.StartError); ok && json.Unmarshal(lastJSONLine([]byte(se.Stdout)), &res) == nil && res.Err != "" {
		return sample{}, fmt.Errorf("%s", res.Err)
	}
	if err != nil {
		return sample{}, fmt.Errorf("idle sessions: %w", err)
	}
	held, holdErr := g.measured.Usage()
	// The where-the-time-goes figures cover the same span as the CPU
	// per session: the setup (where.go).
	var times *procstat.Times
	if t1, err := procstat.Read(g.measured.PID()); err == nil && terr == nil {
		d := t1.Sub(t0)
		times = &d
	}
	var counters *windowCounters
	if g.windowOpen {
		c, err := g.closeWindow()
		if err != nil {
			return sample{}, fmt.Errorf("measured window: %w", err)
		}
		counters = &c
	}
	_ = p.CloseStdin()
	wctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	if err := p.Wait(wctx); err != nil && wctx.Err() != nil {
		p.Kill()
		<-p.Done()
		holdErr = firstErr(holdErr, fmt.Errorf("still closing its sessions: %w", wctx.Err()))
	}
	out := p.Result()
	holdErr = firstErr(holdErr, json.Unmarshal(lastJSONLine([]byte(out.Stdout)), &res))
	if res.Err != "" {
		return sample{}, fmt.Errorf("%s", res.Err)
	}
	if out.Code != 0 {
		holdErr = firstErr(holdErr, fmt.Errorf("exit status %d: %s", out.Code, supervise.Gist(out.Stderr)))
	}
	if holdErr != nil {
		return sample{}, fmt.Errorf("idle sessions: %w", holdErr)
	}
	// CPU per session is the setup's (before -> every session held):
	// read after the loadgen exits it also held part of the teardown,
	// however much of the closes the proxy had handled by then, and
	// haproxy's cost per session moved between 75 and 110 µs with that.
	setupCPU := supervise.CPUDelta(before, held)
	s := sample{metrics: map[string]float64{}, units: float64(n), seconds: res.Seconds, serverCPU: &setupCPU, times: times, window: counters}
	s.metrics["server_rss_kb_per_conn"] = float64(held.RSSBytes-before.RSSBytes) / 1024 / float64(n)
	if res.Seconds > 0 {
		s.metrics["setup_conns_per_s"] = float64(n) / res.Seconds
	}
	return s, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
