package anchor

import (
	"time"

	"github.com/netmodels/netmodels/core/peers"
)

// StartHAProxy runs `haproxy -db` with the config text in dir (core/peers:
// foreground, so the PID is the proxy itself) and waits until every bind
// address listens. Pinned, HAProxy sizes nbthread to the one CPU it sees;
// that is published with the results.
func StartHAProxy(cfg, dir string, pinCPU int) (*peers.Process, error) {
	return peers.StartHAProxy(cfg, peers.HAProxyOptions{Dir: dir, CPUs: CPUs(pinCPU), ReadyTimeout: 10 * time.Second, Place: Place})
}
