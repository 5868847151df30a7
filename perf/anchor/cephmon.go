package anchor

import (
	"fmt"
	"time"

	"github.com/netmodels/netmodels/core/peers"
)

// StartCephMon creates a fresh single-mon cluster (auth none, msgr1 only)
// in dir on Host with core/peers' bootstrap and Ceph's own timers, pinned
// to pinCPU when >= 0. It returns once the v1 port listens and the mon has
// formed its quorum of one: before that it may drop a connection it
// accepted, handshake and all (seen under CPU load: "connect reply: EOF").
// Stop it by PID with Stop.
func StartCephMon(dir string, pinCPU int) (*peers.CephMon, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return peers.StartCephMon(peers.CephMonOptions{Dir: dir, Addr: fmt.Sprintf("%s:%d", Host, port),
		CephTimers: true, CPUs: CPUs(pinCPU), ReadyTimeout: 15 * time.Second})
}
