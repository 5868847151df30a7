package anchor

import (
	"fmt"
	"time"

	"github.com/netmodels/netmodels/core/peers"
)

// StartCephOSD creates a fresh single-mon cluster in dir on Host (as
// StartCephMon does, unpinned) and adds one real ceph-osd on memstore with
// a pool "bench" of 8 PGs, size 1 (core/peers, shared/peers/ceph-osd.md).
// The mon marks an OSD down only after mon_osd_report_timeout without a
// beacon: set to a day here, so the OSD stays listed as up once it is
// killed (Kill, never Stop: SIGTERM would have it mark itself down) and a
// stand-in can take its address and nonce. The rados binary is checked
// first: without librados' client there is nothing to measure.
func StartCephOSD(dir string) (*peers.CephMon, *peers.CephOSD, error) {
	if _, err := peers.RadosBinary(); err != nil {
		return nil, nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, nil, err
	}
	mon, err := peers.StartCephMon(peers.CephMonOptions{Dir: dir, Addr: fmt.Sprintf("%s:%d", Host, port),
		CephTimers: true, ReadyTimeout: 15 * time.Second,
		ExtraConf: map[string]string{"mon_osd_report_timeout": "86400"}})
	if err != nil {
		return nil, nil, err
	}
	osd, err := peers.StartCephOSD(mon, peers.CephOSDOptions{})
	if err != nil {
		_ = mon.Stop() // the OSD's failure is the one to report
		return nil, nil, err
	}
	return mon, osd, nil
}
