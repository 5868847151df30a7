package anchor

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/peers"
	"github.com/netmodels/netmodels/perf/proc"
)

// CephMon is a running one-monitor cluster in a private directory.
type CephMon struct {
	*proc.Process
	// Addr is the msgr1 (v1) address, host:port.
	Addr string
	Dir  string
}

// StartCephMon creates a fresh single-mon cluster with auth none and a
// v1-only monmap under dir (shared/peers/ceph-mon.md §1: --addv, since
// --add makes a v2 address for ports other than 6789), starts
// `ceph-mon -f` and waits until the v1 port answers and the mon has
// formed its quorum of one: before that it may drop a connection it
// accepted, handshake and all (seen under CPU load: "connect reply: EOF").
func StartCephMon(dir string, pinCPU int) (*CephMon, error) {
	for _, tool := range []string{"ceph-mon", "monmaptool"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("start ceph-mon: %w", err)
		}
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("%s:%d", Host, port)
	fsid := uuid()
	for _, d := range []string{"mon", "run", "log", "crash"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	conf := filepath.Join(dir, "ceph.conf")
	text := strings.Join([]string{
		"[global]",
		"fsid = " + fsid,
		"mon_host = [v1:" + addr + "]",
		"mon_initial_members = a",
		"auth_cluster_required = none",
		"auth_service_required = none",
		"auth_client_required = none",
		"ms_bind_msgr1 = true",
		"ms_bind_msgr2 = false",
		"ms_bind_ipv6 = false",
		"run_dir = " + filepath.Join(dir, "run"),
		"admin_socket = " + filepath.Join(dir, "run", "$cluster-$name.asok"),
		"pid_file = " + filepath.Join(dir, "run", "$cluster-$name.pid"),
		"crash_dir = " + filepath.Join(dir, "crash"),
		"log_file = " + filepath.Join(dir, "log", "$cluster-$name.log"),
		"mon_cluster_log_file = " + filepath.Join(dir, "log", "$cluster.log"),
		"mon_data = " + filepath.Join(dir, "mon", "$cluster-$id"),
		"keyring = " + filepath.Join(dir, "keyring"),
		"mon_data_avail_warn = 5",
		"mon_data_avail_crit = 1",
		"",
	}, "\n")
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	monmap := filepath.Join(dir, "monmap")
	steps := [][]string{
		{"monmaptool", "--create", "--fsid", fsid, "--addv", "a", "[v1:" + addr + "]", monmap},
		{"ceph-mon", "-c", conf, "--mkfs", "-i", "a", "--monmap", monmap},
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			return nil, &proc.StartError{Name: "ceph-mon", Reason: fmt.Sprintf("%s: %v", s[0], err), Stderr: string(out)}
		}
	}
	p, err := proc.Start("ceph-mon", []string{"ceph-mon", "-f", "-c", conf, "-i", "a"}, proc.Options{PinCPU: pinCPU})
	if err != nil {
		return nil, err
	}
	err = waitListening(addr, 15*time.Second, p.Exited)
	if err == nil {
		err = waitLogLine(filepath.Join(dir, "log", "ceph-mon.a.log"), peers.QuorumLine("a"), 15*time.Second, p.Exited)
	}
	if err != nil {
		p.Stop()
		return nil, &proc.StartError{Name: "ceph-mon", Reason: err.Error(), Stderr: p.Stderr()}
	}
	return &CephMon{Process: p, Addr: addr, Dir: dir}, nil
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
