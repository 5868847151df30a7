package peers

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/supervise"
)

// CephOSD is one ceph-osd (memstore, auth none) in a CephMon's cluster,
// with one pool (shared/peers/ceph-osd.md). It binds what the mon's
// ceph.conf binds: msgr1, and msgr2 too when the mon has a V2Addr. Addr,
// V2Addr and Nonce are what the OSD map lists for it: where librados sends
// its MOSDOps (a client dials the first entry of [v2:…,v1:…] it can
// speak, so the v2 one when there is one).
type CephOSD struct {
	*Process
	ID     int
	Addr   string // public v1 address, IP:PORT
	V2Addr string // public v2 address, IP:PORT; empty unless the mon binds msgr2
	Nonce  uint32
	Pool   string

	mon *CephMon
}

// CephOSDOptions tune StartCephOSD.
type CephOSDOptions struct {
	// Pool is created once the OSD is up; default "bench", 8 PGs.
	Pool string
	PGs  int
	// ReadyTimeout bounds the wait for the OSD to boot; 0 means twice
	// DefaultReadyTimeout (a boot takes about 6 s on an idle 2-core VM).
	ReadyTimeout time.Duration
}

// CephCLIBinary finds the ceph command (Debian package ceph-common).
func CephCLIBinary() (string, error) { return findBinary("ceph", "ceph-common") }

// RadosBinary finds the rados command (ceph-common), librados' own client.
func RadosBinary() (string, error) { return findBinary("rados", "ceph-common") }

// osdActiveLine is what ceph-osd logs once the mon has marked it up.
const osdActiveLine = "state: booting -> active"

// StartCephOSD adds an OSD to mon's cluster: `ceph osd new`, `ceph-osd
// --mkfs` on memstore, then "ceph-osd -f --no-mon-config" as a child, on
// mon's IP. It returns once the OSD is active and Pool exists. The OSD's
// files live in mon's directory; Stop (SIGTERM) lets the OSD mark itself
// down in the map, Kill leaves it listed as up, so a stand-in can take its
// address (for mon_osd_report_timeout, 900 s unless the mon's ExtraConf
// says otherwise). The OSD binds in Ceph's port range (6800-7300), outside
// the kernel's ephemeral range, so no other test's port 0 takes a killed
// OSD's port; another ceph-osd started meanwhile could.
func StartCephOSD(mon *CephMon, opts CephOSDOptions) (*CephOSD, error) {
	bin, err := findBinary("ceph-osd", "ceph-osd")
	if err != nil {
		return nil, err
	}
	if _, err := CephCLIBinary(); err != nil {
		return nil, err
	}
	if opts.Pool == "" {
		opts.Pool = "bench"
	}
	if opts.PGs <= 0 {
		opts.PGs = 8
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 2 * DefaultReadyTimeout
	}
	host, _, err := net.SplitHostPort(mon.Addr)
	if err != nil {
		return nil, fmt.Errorf("peers: ceph-osd: mon address %q: %w", mon.Addr, err)
	}
	o := &CephOSD{Pool: opts.Pool, mon: mon}
	uuid := newUUID()
	out, err := mon.Ceph("osd", "new", uuid)
	if err != nil {
		return nil, fmt.Errorf("peers: ceph-osd: %w", err)
	}
	if o.ID, err = strconv.Atoi(strings.TrimSpace(out)); err != nil {
		return nil, fmt.Errorf("peers: ceph-osd: `ceph osd new` printed %q, not an id", out)
	}
	dir := mon.Process.Dir
	data := filepath.Join(dir, "osd", strconv.Itoa(o.ID))
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, fmt.Errorf("peers: ceph-osd: %w", err)
	}
	// Options on the command line (Ceph takes any option so), not in the
	// mon's ceph.conf: memstore (only what statfs reports is the device
	// size), the mon's IP, a failsafe ratio a near-empty store never
	// trips, and crash reports of its own (in the mon's crash_dir they
	// would be blamed on the mon).
	args := []string{"-c", mon.ConfPath, "-i", strconv.Itoa(o.ID),
		"--osd-objectstore", "memstore", "--memstore-device-bytes", "17179869184",
		"--osd-data", data, "--public-addr", host, "--cluster-addr", host,
		"--osd-failsafe-full-ratio", "0.999", "--crash-dir", filepath.Join(data, "crash")}
	if err := runTool(bin, append(args, "--mkfs", "--osd-uuid", uuid)...); err != nil {
		return nil, fmt.Errorf("peers: ceph-osd: %w", err)
	}
	logPath := filepath.Join(dir, "log", fmt.Sprintf("ceph-osd.%d.log", o.ID))
	stdout := filepath.Join(dir, "log", fmt.Sprintf("ceph-osd.%d.stdout.log", o.ID))
	before := 0
	if b, err := os.ReadFile(logPath); err == nil {
		before = strings.Count(string(b), osdActiveLine) // a reused Dir's log is appended to
	}
	// --no-mon-config, or the OSD can exit at once with "wrong fsid"
	// (shared/peers/ceph-osd.md; starting it again only retries a race).
	// Without it, global_init first fetches the mon's config with a
	// bootstrap MonClient, which stores the mon's addresses in the
	// CephContext; the OSD's own MonClient then builds its initial monmap
	// from those addresses alone (MonMap::build_initial returns before it
	// reads fsid from ceph.conf), so its fsid is zero until the mon's
	// MMonMap is dispatched. OSD::init sends "osd crush set-device-class"
	// as soon as authenticate() returns, and that MMonCommand carries the
	// monmap's fsid: when it wins the race with the MMonMap (more often on
	// a loaded machine), the mon answers EPERM "wrong fsid"
	// (Monitor::handle_command) and the OSD exits 1 ("init unable to
	// update_crush_device_class"). Without the bootstrap, the initial
	// monmap takes ceph.conf's fsid. Our mon stores no config (the OSD
	// still subscribes to it once authenticated).
	o.Process, err = spawn("ceph-osd", bin, append([]string{"-f", "--no-mon-config"}, args...), dir, stdout, logPath, nil)
	if err != nil {
		return nil, err
	}
	if err := o.WaitFor("ceph-osd active", opts.ReadyTimeout, func() (bool, error) {
		return o.CountLog(osdActiveLine) > before, nil
	}); err != nil {
		o.Kill()
		_ = o.Process.Stop()
		return nil, fmt.Errorf("peers: ceph-osd: %w\n%s", err, o.LogTail(20))
	}
	if err := o.readAddr(); err != nil {
		o.Kill()
		_ = o.Process.Stop()
		return nil, err
	}
	if _, err := mon.Ceph("osd", "pool", "create", o.Pool, strconv.Itoa(opts.PGs), strconv.Itoa(opts.PGs)); err != nil {
		o.Kill()
		_ = o.Process.Stop()
		return nil, fmt.Errorf("peers: ceph-osd: %w", err)
	}
	return o, nil
}

// readAddr takes the OSD's public v1 address, v2 address if any, and
// nonce from the OSD map.
func (o *CephOSD) readAddr() error {
	out, err := o.mon.Ceph("osd", "dump", "--format", "json")
	if err != nil {
		return fmt.Errorf("peers: ceph-osd: %w", err)
	}
	var dump struct {
		OSDs []struct {
			OSD         int `json:"osd"`
			Up          int `json:"up"`
			PublicAddrs struct {
				AddrVec []struct {
					Type  string `json:"type"`
					Addr  string `json:"addr"`
					Nonce uint32 `json:"nonce"`
				} `json:"addrvec"`
			} `json:"public_addrs"`
		} `json:"osds"`
	}
	if err := json.Unmarshal([]byte(out), &dump); err != nil {
		return fmt.Errorf("peers: ceph-osd: osd dump: %w", err)
	}
	for _, d := range dump.OSDs {
		if d.OSD != o.ID {
			continue
		}
		if d.Up != 1 {
			break
		}
		for _, a := range d.PublicAddrs.AddrVec {
			switch a.Type {
			case "v1":
				o.Addr, o.Nonce = a.Addr, a.Nonce
			case "v2":
				o.V2Addr = a.Addr
			}
		}
		if o.Addr != "" && (o.V2Addr != "") == (o.mon.V2Addr != "") {
			return nil
		}
	}
	return fmt.Errorf("peers: ceph-osd: osd.%d is not up with a v1 address (and a v2 one if the mon binds msgr2) in the OSD map: %s", o.ID, out)
}

// cephDescsRefused is what the ceph command prints when the mon refuses
// its first request, get_command_descriptions (see Ceph).
const cephDescsRefused = "Error EPERM: problem getting command descriptions from mon."

// cephRuns bounds how often Ceph runs the command.
const cephRuns = 3

// Ceph runs the ceph command against the mon's cluster and returns its
// stdout. librados (16.2.15) has the race StartCephOSD avoids with
// --no-mon-config, and ignores that option: its bootstrap MonClient always
// runs, so the client's initial monmap has a zero fsid until the mon's
// MMonMap is dispatched, and the command's first request,
// get_command_descriptions, sometimes leaves before that (a few percent
// of runs on a loaded machine). The mon refuses it (EPERM "wrong fsid")
// and the command exits 1 before it sent the command itself, which is
// then safe to run again; each run draws the race anew, so cephRuns runs
// are plenty. By the time the command itself is sent, the MMonMap, which
// the mon sent first on the same connection, has been dispatched.
func (m *CephMon) Ceph(args ...string) (string, error) {
	bin, err := CephCLIBinary()
	if err != nil {
		return "", err
	}
	args = append([]string{"-c", m.ConfPath}, args...)
	for run := 1; ; run++ {
		out, err := m.tool(bin, args...)
		if err == nil || run == cephRuns || !strings.Contains(err.Error(), cephDescsRefused) {
			return out, err
		}
	}
}

// Rados runs the rados command against the mon's cluster, bounded by d,
// and returns its stdout.
func (m *CephMon) Rados(d time.Duration, args ...string) (string, error) {
	bin, err := RadosBinary()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return toolOutput(ctx, bin, append([]string{"-c", m.ConfPath}, args...))
}

func (m *CephMon) tool(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultReadyTimeout)
	defer cancel()
	return toolOutput(ctx, bin, args)
}

func toolOutput(ctx context.Context, bin string, args []string) (string, error) {
	r, err := supervise.Run(ctx, supervise.Spec{Path: bin, Args: args})
	if err == nil && r.Code != 0 {
		err = fmt.Errorf("exit status %d", r.Code)
	}
	if err != nil {
		return r.Stdout, fmt.Errorf("%s %s: %w\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, r.Stdout, r.Stderr)
	}
	return r.Stdout, nil
}
