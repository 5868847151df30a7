package peers

import (
	"crypto/rand"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/supervise"
)

// CephMonBinary finds ceph-mon, and checks that monmaptool (needed to
// build the monmap) is there too.
func CephMonBinary() (string, error) {
	if _, err := findBinary("monmaptool", "ceph-mon"); err != nil {
		return "", err
	}
	return findBinary("ceph-mon", "ceph-mon")
}

// QuorumLine is what a lone monitor named id logs to its log_file once it
// leads its quorum. Only then does it answer clients (MAuth needs paxos
// active), and until then a connection it accepted can be dropped while it
// bootstraps, even after a complete connect handshake.
func QuorumLine(id string) string {
	return fmt.Sprintf("mon.%s is new leader, mons %s in quorum", id, id)
}

// FastTimers are the timer settings used unless CephMonOptions.CephTimers
// is set: they make reconnect and probe scenarios finish in about a second
// (shared/peers/ceph-mon-as-peer.md §6).
var FastTimers = map[string]string{
	"mon_probe_timeout":           "0.2",
	"ms_initial_backoff":          "0.05",
	"ms_max_backoff":              "0.5",
	"ms_connection_ready_timeout": "1",
	"mon_election_timeout":        "1",
}

// CephMonOptions tune StartCephMon.
type CephMonOptions struct {
	// Dir holds ceph.conf, the monmap, the store, logs, the admin socket
	// and crash reports. Empty: a new temporary directory removed by Stop.
	// Keep it short: the admin socket path must fit in 107 bytes.
	Dir string
	// Addr is the mon's v1 address, 127.0.0.1:PORT or a documentation
	// address inside a private namespace (core/dpdknet.HostIP:PORT).
	// Empty: 127.0.0.1 and a free port.
	Addr string
	// V2Addr, if set, also binds msgr2 there (127.0.0.1:PORT): the monmap
	// and mon_host list [v2:V2Addr,v1:Addr] and ms_bind_msgr2 is on. The
	// monmap decides what the mon binds (ceph-mon.md pitfall 2). Empty:
	// msgr1 only.
	V2Addr string
	// ID is the mon's name; default "a".
	ID string
	// PeerMonAddr, if set, adds a second monitor (PeerMonID, default "b")
	// at this v1 address to the monmap. The real mon then dials it as a
	// lossless mon↔mon peer (policy lossless_peer_reuse, host_type MON,
	// protocol 13, AUTH_NONE authorizer) and sends MMonProbe every
	// mon_probe_timeout; it never reaches quorum. Start the server that
	// listens there first: refused connects cost global_seqs and back-off.
	// Use a port above Addr's for the real mon to be rank 0.
	PeerMonAddr string
	PeerMonID   string
	// PeerMonV2 lists the second monitor at PeerMonAddr as an msgr2
	// address ([v2:...]), so the real mon dials it over msgr2; set V2Addr
	// too, or the mon (no msgr2 bound) keeps to msgr1.
	PeerMonV2 bool
	// PeerMonV2Addr, if set, lists the second monitor with both of its
	// addresses, [v2:PeerMonV2Addr,v1:PeerMonAddr], as Ceph lists a
	// daemon that listens on both protocols; the real mon dials the entry
	// its own bound protocols allow (a mon without V2Addr: the v1 one).
	PeerMonV2Addr string
	// ExtraConf adds or overrides [global] settings (e.g. "debug_ms": "10",
	// "ms_inject_socket_failures": "15").
	ExtraConf map[string]string
	// CephTimers keeps Ceph's default timers instead of FastTimers.
	CephTimers bool
	// SkipQuorumWait returns once the port listens, without waiting for a
	// lone mon's quorum. With PeerMonAddr there is no quorum and this wait
	// is always skipped.
	SkipQuorumWait bool
	// ReadyTimeout bounds the wait for readiness; 0 means
	// DefaultReadyTimeout (monmaptool and mkfs have their own bound).
	ReadyTimeout time.Duration
	// CPUs pins the mon from its start, as taskset would; nil: not pinned.
	CPUs []int
	// Place, when set, wraps the mon's spec before it starts, as for
	// HAProxyOptions.Place (a core/netsim side's namespace). monmaptool
	// and --mkfs open no socket and run where the caller is.
	Place func(supervise.Spec) supervise.Spec
}

// CephMon is a running monitor. It embeds its current Process; Restart
// replaces it.
type CephMon struct {
	*Process
	Addr        string // v1 address, 127.0.0.1:PORT
	V2Addr      string // msgr2 address, empty unless CephMonOptions.V2Addr
	ID          string
	PeerMonAddr string
	FSID        string
	ConfPath    string
	CrashDir    string

	bin     string
	opts    CephMonOptions
	ownDir  bool
	stopped bool
}

// StartCephMon creates a fresh cluster of one monitor (msgr1, plus msgr2
// with V2Addr; auth none) in opts.Dir: ceph.conf, monmaptool, ceph-mon
// --mkfs, then runs "ceph-mon -f" as a child. It returns once the mon
// listens on Addr (and V2Addr), and for a lone mon, once it has formed its
// quorum.
func StartCephMon(opts CephMonOptions) (*CephMon, error) {
	bin, err := CephMonBinary()
	if err != nil {
		return nil, err
	}
	monmaptool, _ := findBinary("monmaptool", "ceph-mon")
	if opts.ID == "" {
		opts.ID = "a"
	}
	if opts.PeerMonAddr != "" && opts.PeerMonID == "" {
		opts.PeerMonID = "b"
	}
	if opts.Addr == "" {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		opts.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	}
	for _, a := range []string{opts.Addr, opts.V2Addr, opts.PeerMonAddr} {
		if a == "" {
			continue
		}
		if err := checkLocalAddr(a); err != nil {
			return nil, fmt.Errorf("peers: ceph-mon: %w", err)
		}
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	dir, own, err := workDir(opts.Dir, "ceph-mon")
	if err != nil {
		return nil, err
	}
	m := &CephMon{
		Addr:        opts.Addr,
		V2Addr:      opts.V2Addr,
		ID:          opts.ID,
		PeerMonAddr: opts.PeerMonAddr,
		FSID:        newUUID(),
		ConfPath:    filepath.Join(dir, "ceph.conf"),
		CrashDir:    filepath.Join(dir, "crash"),
		bin:         bin,
		opts:        opts,
		ownDir:      own,
	}
	if err := m.create(dir, monmaptool); err != nil {
		cleanupDir(dir, own)
		return nil, err
	}
	if err := m.spawn(dir); err != nil {
		cleanupDir(dir, own)
		return nil, err
	}
	return m, nil
}

// create writes ceph.conf and the monmap and runs --mkfs.
func (m *CephMon) create(dir, monmaptool string) error {
	for _, d := range []string{"run", "log", "mon", "crash"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("peers: ceph-mon: %w", err)
		}
	}
	if err := os.WriteFile(m.ConfPath, []byte(m.conf(dir)), 0o644); err != nil {
		return fmt.Errorf("peers: ceph-mon: %w", err)
	}
	monmap := filepath.Join(dir, "monmap")
	args := []string{"--create", "--fsid", m.FSID, "--addv", m.ID, m.addrv()}
	if m.PeerMonAddr != "" {
		// --addv with an explicit v1: prefix; plain --add would make a v2
		// address for any port but 6789 (ceph-mon.md pitfall 1).
		args = append(args, "--addv", m.opts.PeerMonID, m.peerAddrv())
	}
	args = append(args, monmap)
	if err := runTool(monmaptool, args...); err != nil {
		return fmt.Errorf("peers: ceph-mon: %w", err)
	}
	if err := runTool(m.bin, "-c", m.ConfPath, "--mkfs", "-i", m.ID, "--monmap", monmap); err != nil {
		return fmt.Errorf("peers: ceph-mon: %w", err)
	}
	return nil
}

// conf is ceph.conf: every path inside dir so clusters can coexist,
// msgr1 (and msgr2 with V2Addr), auth none, health warnings that a test
// cluster trips silenced, fast timers unless asked otherwise, then
// ExtraConf.
func (m *CephMon) conf(dir string) string {
	hosts := m.addrv()
	members := m.ID
	if m.PeerMonAddr != "" {
		hosts += "," + m.peerAddrv()
		members += ", " + m.opts.PeerMonID
	}
	kv := map[string]string{
		"fsid":                                   m.FSID,
		"mon_host":                               hosts,
		"mon_initial_members":                    members,
		"auth_cluster_required":                  "none",
		"auth_service_required":                  "none",
		"auth_client_required":                   "none",
		"ms_bind_msgr1":                          "true",
		"ms_bind_msgr2":                          strconv.FormatBool(m.V2Addr != ""),
		"ms_bind_ipv6":                           "false",
		"run_dir":                                filepath.Join(dir, "run"),
		"admin_socket":                           filepath.Join(dir, "run", "$cluster-$name.asok"),
		"pid_file":                               filepath.Join(dir, "run", "$cluster-$name.pid"),
		"crash_dir":                              m.CrashDir,
		"log_file":                               filepath.Join(dir, "log", "$cluster-$name.log"),
		"mon_cluster_log_file":                   filepath.Join(dir, "log", "$cluster.log"),
		"mon_data":                               filepath.Join(dir, "mon", "$cluster-$id"),
		"keyring":                                filepath.Join(dir, "keyring"),
		"osd_pool_default_size":                  "1",
		"mon_allow_pool_size_one":                "true",
		"mon_warn_on_pool_no_redundancy":         "false",
		"mon_data_avail_warn":                    "5",
		"mon_data_avail_crit":                    "1",
		"mon_warn_on_insecure_global_id_reclaim": "false",
		"mon_warn_on_insecure_global_id_reclaim_allowed": "false",
	}
	if m.PeerMonAddr != "" {
		// Enough for every log line the mon↔mon observers grep for.
		kv["debug_ms"] = "10"
	}
	if !m.opts.CephTimers {
		maps.Copy(kv, FastTimers)
	}
	maps.Copy(kv, m.opts.ExtraConf)
	var b strings.Builder
	b.WriteString("[global]\n")
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		fmt.Fprintf(&b, "%s = %s\n", k, kv[k])
	}
	return b.String()
}

// addrv is the mon's address vector as monmaptool and mon_host spell it.
func (m *CephMon) addrv() string {
	if m.V2Addr != "" {
		return "[v2:" + m.V2Addr + ",v1:" + m.Addr + "]"
	}
	return "[v1:" + m.Addr + "]"
}

// peerAddrv is the second monitor's address vector (PeerMonAddr).
func (m *CephMon) peerAddrv() string {
	if m.opts.PeerMonV2Addr != "" {
		return "[v2:" + m.opts.PeerMonV2Addr + ",v1:" + m.PeerMonAddr + "]"
	}
	if m.opts.PeerMonV2 {
		return "[v2:" + m.PeerMonAddr + "]"
	}
	return "[v1:" + m.PeerMonAddr + "]"
}

// listenAddrs are the addresses the mon must listen on to be ready.
func (m *CephMon) listenAddrs() []string {
	if m.V2Addr != "" {
		return []string{m.Addr, m.V2Addr}
	}
	return []string{m.Addr}
}

// monLogPath is the mon's own log_file.
func (m *CephMon) monLogPath(dir string) string {
	return filepath.Join(dir, "log", "ceph-mon."+m.ID+".log")
}

// spawn starts "ceph-mon -f" on the existing store and waits until ready.
func (m *CephMon) spawn(dir string) error {
	logPath := m.monLogPath(dir)
	quorum := QuorumLine(m.ID)
	before := 0
	if b, err := os.ReadFile(logPath); err == nil {
		before = strings.Count(string(b), quorum) // a restart appends
	}
	p, err := spawnPlaced("ceph-mon", m.bin, []string{"-f", "-c", m.ConfPath, "-i", m.ID}, dir, filepath.Join(dir, "log", "ceph-mon."+m.ID+".stdout.log"), logPath, m.opts.CPUs, m.opts.Place)
	if err != nil {
		return err
	}
	if err := p.waitListening(m.listenAddrs(), m.opts.ReadyTimeout); err != nil {
		p.Stop()
		return err
	}
	if m.PeerMonAddr == "" && !m.opts.SkipQuorumWait {
		if err := p.WaitLog(quorum, before+1, m.opts.ReadyTimeout); err != nil {
			p.Stop()
			return err
		}
	}
	m.Process = p
	m.stopped = false
	return nil
}

// Stop stops the mon (see Process.Stop) and, if StartCephMon created its
// directory, removes it. It reports an error if the mon had died on its
// own or left a crash report.
func (m *CephMon) Stop() error {
	err := m.Process.Stop()
	if m.stopped {
		return err
	}
	m.stopped = true
	if crashes := m.Crashes(); len(crashes) > 0 && err == nil {
		err = fmt.Errorf("peers: ceph-mon (pid %d) left crash reports: %s\n%s", m.PID(), strings.Join(crashes, ", "), m.LogTail(20))
	}
	if m.ownDir {
		if rmErr := m.Process.removeDir(); rmErr != nil && err == nil {
			err = rmErr
		}
	}
	return err
}

// Restart stops the mon (SIGTERM) and starts it again on the same store
// and port, as in the "peer restart" scenario: the new mon comes back with
// connect_seq 0 to existing sessions. It does not change Dir or Addr.
func (m *CephMon) Restart() error {
	if err := m.Process.Stop(); err != nil {
		return err
	}
	return m.spawn(m.Process.Dir)
}

// Crashes lists the crash reports ceph-mon wrote (a failed assert leaves
// one in crash_dir).
func (m *CephMon) Crashes() []string {
	entries, err := os.ReadDir(m.CrashDir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// newUUID is a random (version 4) UUID for the cluster fsid.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
