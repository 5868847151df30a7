package peers

import (
	"errors"
	"maps"
	"sync"
)

// OSDCluster is one ceph-mon and one ceph-osd whose OSD-map entry a
// stand-in takes over: librados dials the address and nonce the map
// lists, so once the real OSD is gone (Vacate) a server listening there
// with that nonce receives its MOSDOps. The conformance suite's rados
// case and perf's msgr-rados share it.
type OSDCluster struct {
	Mon *CephMon
	OSD *CephOSD

	mu      sync.Mutex
	vacated bool
}

// StartOSDCluster starts a mon with opts, using Ceph's own timers and a
// mon_osd_report_timeout of a day (a mon marks an OSD without beacons
// down after it, 900 s by default: a killed OSD must stay listed as up for
// a whole suite run), then one OSD with a pool (StartCephOSD). The rados
// command is checked first: without librados' client the cluster serves
// nothing.
func StartOSDCluster(opts CephMonOptions, osdOpts CephOSDOptions) (*OSDCluster, error) {
	if _, err := RadosBinary(); err != nil {
		return nil, err
	}
	opts.CephTimers = true
	extra := map[string]string{"mon_osd_report_timeout": "86400"}
	maps.Copy(extra, opts.ExtraConf)
	opts.ExtraConf = extra
	mon, err := StartCephMon(opts)
	if err != nil {
		return nil, err
	}
	osd, err := StartCephOSD(mon, osdOpts)
	if err != nil {
		_ = mon.Stop() // the OSD's failure is the one to report
		return nil, err
	}
	return &OSDCluster{Mon: mon, OSD: osd}, nil
}

// Vacate kills the real OSD (SIGKILL: SIGTERM would have it mark itself
// down in the map) and waits for its exit, which frees its address.
// Idempotent.
func (c *OSDCluster) Vacate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.vacated {
		return
	}
	c.vacated = true
	c.OSD.Kill()
	<-c.OSD.Done()
}

// Vacated reports whether Vacate ran.
func (c *OSDCluster) Vacated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.vacated
}

// Stop ends the OSD, if it still runs, and the mon. After Vacate the
// OSD's exit status says nothing and is not reported.
func (c *OSDCluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	osdErr := c.OSD.Stop()
	if c.vacated {
		osdErr = nil
	}
	return errors.Join(osdErr, c.Mon.Stop())
}
