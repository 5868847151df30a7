package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/netsim"
	"github.com/netmodels/netmodels/core/supervise"
	"github.com/netmodels/netmodels/perf/report"
	"github.com/netmodels/netmodels/perf/result"
	"github.com/netmodels/netmodels/perf/sshhost"
)

// sshdFor is one sshd started by the test inside a namespace of the
// two-hosts topology, on that side's address only.
type sshdFor struct {
	proc   *supervise.Proc
	target sshhost.Target
}

// startSSHD generates a host key, writes a config of its own (the run's
// user key only, no password, no PAM) and starts sshd in the foreground
// (-D -e) on a free port of side's address, ready once it listens there.
func startSSHD(t *testing.T, sshd, dir string, side *netsim.Side, login, authorized string) sshdFor {
	t.Helper()
	hostKey := filepath.Join(dir, "host_"+side.Role)
	sshKeygen(t, hostKey)
	l, err := side.Listen("tcp", side.Addr.String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	// The namespace is this test's own: nothing else can take the port.
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := filepath.Join(dir, "sshd_"+side.Role+".conf")
	text := fmt.Sprintf(`# written by TestHostsRun
ListenAddress %s:%d
HostKey %s
AuthorizedKeysFile %s
PidFile none
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers %s
Subsystem sftp internal-sftp
LogLevel ERROR
`, side.Addr, port, hostKey, authorized, login)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := side.Start(supervise.Spec{Name: "sshd", Path: sshd, Args: []string{"-D", "-e", "-f", cfg}, IgnoreStopStatus: true})
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("%s:%d", side.Addr, port)
	if err := p.WaitListening(10*time.Second, addr); err != nil {
		t.Fatalf("sshd on %s: %v: %s", addr, err, p.Stderr())
	}
	pub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	known := fmt.Sprintf("[%s]:%d %s", side.Addr, port, pub)
	f, err := os.OpenFile(filepath.Join(dir, "known_hosts"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(known); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return sshdFor{proc: p, target: sshhost.Target{User: login, Host: side.Addr.String(), Port: port}}
}

func sshKeygen(t *testing.T, path string) {
	t.Helper()
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "netmodels-test", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
}

// One --hosts run for real: an sshd in each namespace of the two-hosts
// topology (lan), host and user keys made for the run, known_hosts
// written here and checked strictly; the messenger 4 KiB ping-pong for
// the goroutine engine and raw TCP, 2 × 0.1 s, with the binaries copied,
// started, stopped and read over SSH. Not root: skipped as unsupported.
func TestHostsRun(t *testing.T) {
	t0 := time.Now()
	if os.Geteuid() != 0 {
		t.Skip("unsupported: sshd in the two-hosts topology's namespaces needs root (" + netsim.ErrNeedRoot.Error() + ")")
	}
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd, err = exec.LookPath("/usr/sbin/sshd")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("sshd not installed: make deps installs Debian's openssh-server")
		}
		t.Skip("unsupported: sshd not installed (Debian's openssh-server; make deps installs it)")
	}
	for _, tool := range []string{"ssh", "scp", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (Debian's openssh-client): %v", tool, err)
		}
	}
	// sshd refuses to start without its privilege separation directory,
	// which Debian's init script makes at boot (it is empty; kept).
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir, self, bin := harnessDir(t, nil)
	eng := engineBinary(t, dir, "goroutine")
	if err := os.Symlink(eng, filepath.Join(bin, "goroutine")); err != nil {
		t.Fatal(err)
	}
	t.Logf("binaries ready after %v", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	before, _ := filepath.Glob("/tmp/netmodels-perf.*")
	supervise.NoLeaks(t)

	lan, err := netsim.ParseProfile("lan")
	if err != nil {
		t.Fatal(err)
	}
	topo, err := netsim.New(lan, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer topo.Close()
	keys := t.TempDir()
	userKey := filepath.Join(keys, "user")
	sshKeygen(t, userKey)
	client := startSSHD(t, sshd, keys, topo.Client, me.Username, userKey+".pub")
	server := startSSHD(t, sshd, keys, topo.Server, me.Username, userKey+".pub")
	sshConfig := filepath.Join(keys, "ssh_config")
	if err := os.WriteFile(sshConfig, []byte(fmt.Sprintf(`# written by TestHostsRun
Host *
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  UpdateHostKeys no
  LogLevel ERROR
`, userKey, filepath.Join(keys, "known_hosts"))), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("sshd up on %s and %s after %v", client.target, server.target, time.Since(t0).Round(time.Millisecond))

	// The hosts' addresses are reachable from the client namespace only:
	// the master connections start there, everything else goes through
	// their sockets.
	hosts := &Hosts{Client: client.target, Server: server.target,
		SSH: sshhost.Options{Args: []string{"-F", sshConfig}, Via: []string{"ip", "netns", "exec", topo.Client.Netns}}}
	suite := Suite{Name: "test", Reps: 2, Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond, ScaleConns: 10, Calib: SmokeCalib}
	cfg := Config{Suite: suite, BinDir: bin, Engines: []string{"goroutine"}, ClientEngine: "goroutine", Self: self, PinCPU: -1, WorkDir: dir,
		Only: []string{"msgr-pingpong-4KiB", "proxy-pingpong-64B"}, Hosts: hosts}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run, err := Run(ctx, cfg, ".")
	if err != nil {
		t.Fatal(err)
	}
	var cells float64
	for _, sc := range run.Scenarios {
		for _, c := range sc.Cells {
			cells += c.Seconds
		}
	}
	t.Logf("run took %v (%s; cells %.1f s)", time.Since(t0).Round(time.Millisecond), run.Extra["hosts_setup"], cells)
	if len(run.Scenarios) != 2 || run.Scenarios[0].ID != "msgr-pingpong-4KiB-unpinned@hosts" || run.Scenarios[1].ID != "proxy-pingpong-64B-unpinned@hosts" {
		t.Fatalf("scenarios: %+v", run.Scenarios)
	}
	for i, targets := range [][]string{{RawTCP, "goroutine"}, {Direct, "goroutine"}} {
		sc := run.Scenarios[i]
		for _, target := range targets {
			c := sc.Cell(target)
			if c == nil || c.Status != result.StatusOK || len(c.Reps) != 2 {
				t.Fatalf("%s / %s cell: %+v (notes %v)", sc.ID, target, c, run.Notes)
			}
			for _, m := range []string{"p50_us", "p99_us", "rate", "server_cpu_us_per_msg", "client_cores"} {
				if c.Summary[m].Median <= 0 {
					t.Errorf("%s / %s: %s = %v", sc.ID, target, m, c.Summary[m].Median)
				}
			}
			t.Logf("%s / %s: p50 %.1f µs, p99 %.1f µs, %.0f msg/s, server %.2f CPU-µs/msg, client %.2f cores", sc.ID, target,
				c.Summary["p50_us"].Median, c.Summary["p99_us"].Median, c.Summary["rate"].Median, c.Summary["server_cpu_us_per_msg"].Median, c.Summary["client_cores"].Median)
		}
		if c := sc.Cell(HAProxy); i == 1 && (c == nil || c.Status != result.StatusAbsent) {
			t.Errorf("haproxy over --hosts: %+v", c)
		}
	}
	if g := run.Scenarios[0].Cell("goroutine"); !strings.Contains(g.Server, "--listen "+netsim.ServerIP.String()+":0") {
		t.Errorf("goroutine msgr-server not on the server host's address: %s", g.Server)
	}
	if !strings.Contains(run.ProxyConfig, "bind "+netsim.ServerIP.String()+":0") {
		t.Errorf("proxy config not on the server host's address:\n%s", run.ProxyConfig)
	}
	kernel, err := exec.Command("uname", "-r").Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("hosts: %s", run.Extra["hosts"])
	if h := run.Extra["hosts"]; strings.Count(h, strings.TrimSpace(string(kernel))) != 2 || !strings.Contains(h, client.target.String()) || !strings.Contains(h, server.target.String()) {
		t.Errorf("hosts row: %q", h)
	}
	// The Run table names both hosts with their kernels.
	out := filepath.Join(dir, "report")
	if err := report.Write(run, out); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| hosts (kernel: uname -srm over SSH) | "+run.Extra["hosts"]) {
		t.Errorf("report.md has no hosts row:\n%s", md)
	}
	if len(run.Notes) > 0 {
		t.Errorf("notes: %v", run.Notes)
	}
	after, _ := filepath.Glob("/tmp/netmodels-perf.*")
	if len(after) > len(before) {
		t.Errorf("remote directories left: %v (before the run: %v)", after, before)
	}
	for _, s := range []sshdFor{client, server} {
		if err := s.proc.Stop(); err != nil {
			t.Errorf("sshd: %v", err)
		}
	}
	if err := topo.Close(); err != nil {
		t.Error(err)
	}
}
