package anchor

import (
	"fmt"
	"time"

	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/peers"
	"github.com/netmodels/netmodels/perf/msgr2ka"
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
		CephTimers: true, CPUs: CPUs(pinCPU), ReadyTimeout: 15 * time.Second, Place: Place})
}

// StartCephMonV2 is StartCephMon with msgr2 bound too (ms_bind_msgr2 on a
// second free port: the 3300-style v2 address, m.V2Addr). It returns once
// the v2 port opens a session: a fresh mon closes an AUTH_REQUEST until
// its auth service can assign global_ids, some time after quorum
// (peers.CephMonAuthReadyLine), so the harness's own msgr2 client probes
// it (every 100 ms, 15 s bound) before the first measured connection.
func StartCephMonV2(dir string, pinCPU int) (*peers.CephMon, error) {
	var ports [2]int
	for ports[0] == ports[1] {
		for i := range ports {
			p, err := FreePort()
			if err != nil {
				return nil, err
			}
			ports[i] = p
		}
	}
	m, err := peers.StartCephMon(peers.CephMonOptions{Dir: dir, Addr: fmt.Sprintf("%s:%d", Host, ports[0]),
		V2Addr: fmt.Sprintf("%s:%d", Host, ports[1]), CephTimers: true, CPUs: CPUs(pinCPU), ReadyTimeout: 15 * time.Second})
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		s, err := msgr2ka.Open("v2:"+m.V2Addr+"/0", wire.EntityMon, 2*time.Second)
		if err == nil {
			s.Close()
			return m, nil
		}
		if time.Now().After(deadline) {
			_ = m.Stop()
			return nil, fmt.Errorf("ceph-mon v2 port %s opened no msgr2 session in 15 s: %w", m.V2Addr, err)
		}
		time.Sleep(100 * time.Millisecond) // the mon's auth service, polled
	}
}
