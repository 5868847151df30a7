package anchor

import (
	"fmt"
	"time"

	"github.com/netmodels/netmodels/core/peers"
)

// StartCephOSD creates a fresh single-mon cluster in dir on Host (as
// StartCephMon does, unpinned) with one real ceph-osd on memstore and a
// pool "bench" of 8 PGs, size 1, whose OSD a stand-in can take over
// (core/peers.OSDCluster, shared/peers/ceph-osd.md).
func StartCephOSD(dir string) (*peers.OSDCluster, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return peers.StartOSDCluster(peers.CephMonOptions{Dir: dir, Addr: fmt.Sprintf("%s:%d", Host, port),
		ReadyTimeout: 15 * time.Second}, peers.CephOSDOptions{})
}
