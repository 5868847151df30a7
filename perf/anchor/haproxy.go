package anchor

import (
	"fmt"
	"os/exec"
	"time"

	"github.com/netmodels/netmodels/perf/proc"
)

// StartHAProxy runs `haproxy -f cfg -db` (foreground, so the PID is the
// proxy itself) and waits until waitAddr accepts connections. When pinned
// with taskset HAProxy sizes nbthread to the one CPU it sees; that is
// published with the results.
func StartHAProxy(cfg, waitAddr string, pinCPU int) (*proc.Process, error) {
	path, err := exec.LookPath("haproxy")
	if err != nil {
		return nil, fmt.Errorf("start haproxy: %w", err)
	}
	p, err := proc.Start("haproxy", []string{path, "-f", cfg, "-db"}, proc.Options{PinCPU: pinCPU})
	if err != nil {
		return nil, err
	}
	if err := waitListening(waitAddr, 10*time.Second, p.Exited); err != nil {
		p.Stop()
		return nil, &proc.StartError{Name: "haproxy", Reason: err.Error(), Stderr: p.Stderr()}
	}
	return p, nil
}
