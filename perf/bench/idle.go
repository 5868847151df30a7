package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/netmodels/netmodels/perf/loadgen"
	"github.com/netmodels/netmodels/perf/proc"
)

// idleLoad runs `perf loadgen idle`: it opens n sessions, says HOLDING,
// and keeps them until its stdin closes. The measured process's RSS is read
// before and while the sessions are held.
func (r *runner) idleLoad(ctx context.Context, g *rig, pin int, n int) (sample, error) {
	before, err := proc.Read(g.measured.PID())
	if err != nil {
		return sample{}, err
	}
	argv := proc.Pinned(pin, r.loadgenArgs("idle", "--addr", g.addr["echo"], "--n", fmt.Sprint(n)))
	ctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return sample{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return sample{}, err
	}
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	sc := bufio.NewScanner(stdout)
	var held proc.Usage
	var res loadgen.Result
	var holdErr error
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "HOLDING") {
			// Every session has echoed through, so the proxy holds both
			// sides of each: no settling wait needed.
			held, holdErr = proc.Read(g.measured.PID())
			stdin.Close()
			continue
		}
		if strings.HasPrefix(line, "{") {
			holdErr = firstErr(holdErr, json.Unmarshal([]byte(line), &res))
		}
	}
	stdin.Close()
	waitErr := cmd.Wait()
	if res.Err != "" {
		return sample{}, fmt.Errorf("%s", res.Err)
	}
	if err := firstErr(holdErr, waitErr); err != nil {
		return sample{}, fmt.Errorf("idle sessions: %w", err)
	}
	// CPU per session is the setup's (before -> every session held):
	// read after the loadgen exits it also held part of the teardown,
	// however much of the closes the proxy had handled by then, and
	// haproxy's cost per session moved between 75 and 110 µs with that.
	setupCPU := proc.CPUDelta(before, held)
	s := sample{metrics: map[string]float64{}, units: float64(n), seconds: res.Seconds, serverCPU: &setupCPU}
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
