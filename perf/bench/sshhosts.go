package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/supervise"
	"github.com/netmodels/netmodels/perf/sshhost"
)

// Hosts is `perf run --hosts client=ssh://USER@HOST[:PORT],server=...`
// (#20 step 4): every load generator and msgr-client runs on the client
// host, every server and anchor on the server host, each started through
// OpenSSH (perf/sshhost). The harness itself, and so the calibration,
// stays where it was started.
type Hosts struct {
	Client, Server sshhost.Target
	// SSH is how ssh and scp are run (options, and the test's network
	// namespace for the master connections).
	SSH sshhost.Options
}

// HostScenarios are what a --hosts run measures: the messenger ping-pong
// (raw TCP and every kernel engine's msgr-server) and the proxy
// ping-pong (direct and every kernel engine's proxy, with its backend
// and its config file on the server host, on port 0: its READY line
// names the ports). HAProxy is absent there (anchor starts it on this
// machine only).
var HostScenarios = []string{"msgr-pingpong-4KiB-unpinned", "msgr-pingpong-0B-unpinned", "proxy-pingpong-64B-unpinned"}

// ParseHosts reads --hosts: client= and server=, each ssh://USER@HOST[:PORT].
// The server's HOST must be an IP address: the servers listen on it and
// the client dials it, so it is the data path's address as well.
func ParseHosts(s string) (*Hosts, error) {
	if s == "" {
		return nil, nil
	}
	h := &Hosts{}
	seen := map[string]bool{}
	for _, kv := range strings.Split(s, ",") {
		role, u, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--hosts: %q: want ROLE=ssh://USER@HOST[:PORT]", kv)
		}
		if seen[role] {
			return nil, fmt.Errorf("--hosts: %s given twice", role)
		}
		seen[role] = true
		t, err := sshhost.ParseTarget(u)
		if err != nil {
			return nil, fmt.Errorf("--hosts %s: %w", role, err)
		}
		switch role {
		case "client":
			h.Client = t
		case "server":
			h.Server = t
		case "backend":
			return nil, errors.New("--hosts: backend= (the proxy's backend on a third host) is not supported yet: the backend runs on the server host")
		default:
			return nil, fmt.Errorf("--hosts: unknown role %q (client, server)", role)
		}
	}
	if !seen["client"] || !seen["server"] {
		return nil, errors.New("--hosts needs both client= and server=")
	}
	if _, err := netip.ParseAddr(h.Server.Host); err != nil {
		return nil, fmt.Errorf("--hosts server: %q is not an IP address: the servers listen on it and the client dials it", h.Server.Host)
	}
	return h, nil
}

// hostsRun is a --hosts run's connections and what was copied where.
type hostsRun struct {
	client, server *sshhost.Conn
	// dirs: each connection's private directory on its host; paths: a
	// local binary's copy there.
	dirs  map[*sshhost.Conn]string
	paths map[*sshhost.Conn]map[string]string
	// kernels: uname -srm of each host, for the Run table.
	kernels map[*sshhost.Conn]string
}

// remotes maps the local ssh client of a server started on a host to the
// remote program, so that a rig stops the program by its PID and the
// runner reads its CPU and memory from its host (rig.add, usageOf).
var remotes sync.Map // *supervise.Proc -> *sshhost.Proc

func remoteOf(p *supervise.Proc) *sshhost.Proc {
	if v, ok := remotes.Load(p); ok {
		return v.(*sshhost.Proc)
	}
	return nil
}

// usageOf is the measured process's CPU and memory: from /proc here, or
// from its host's /proc over SSH.
func usageOf(p *supervise.Proc) (supervise.Usage, error) {
	if rp := remoteOf(p); rp != nil {
		return rp.Usage()
	}
	return p.Usage()
}

// remoteStopper stops a remote program by its PID and forgets it.
type remoteStopper struct{ p *sshhost.Proc }

func (s remoteStopper) Stop() error {
	err := s.p.Stop()
	remotes.Delete(s.p.Local())
	return err
}

// openHosts connects to both hosts, makes a directory on each and copies
// the binaries each role runs: the perf binary to both, the client
// engine to the client, every kernel engine to the server.
func (r *runner) openHosts(ctx context.Context) (err error) {
	h := r.cfg.Hosts
	hr := &hostsRun{dirs: map[*sshhost.Conn]string{}, paths: map[*sshhost.Conn]map[string]string{}, kernels: map[*sshhost.Conn]string{}}
	r.hosts = hr
	defer func() {
		if err != nil {
			r.closeHosts()
		}
	}()
	if hr.client, err = sshhost.Dial(h.Client, h.SSH); err != nil {
		return err
	}
	if hr.server, err = sshhost.Dial(h.Server, h.SSH); err != nil {
		return err
	}
	serverBins := []string{r.cfg.Self}
	for _, e := range r.engines {
		if e.Available && !Userspace(e.Name) {
			serverBins = append(serverBins, r.engineBin(e.Name))
		}
	}
	t0 := time.Now()
	var size int64
	for _, c := range []struct {
		conn *sshhost.Conn
		bins []string
	}{{hr.client, []string{r.cfg.Self, r.clientBin()}}, {hr.server, serverBins}} {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		n, err := r.prepareHost(cctx, c.conn, c.bins)
		cancel()
		if err != nil {
			return err
		}
		size += n
	}
	r.run.Extra["hosts_setup"] = fmt.Sprintf("binaries copied (%.0f MB in all) in %.1f s", float64(size)/1e6, time.Since(t0).Seconds())
	return nil
}

// prepareHost makes conn's directory, copies bins into it (the perf
// binary as "perf", the engines under their names) and reads the kernel.
func (r *runner) prepareHost(ctx context.Context, conn *sshhost.Conn, bins []string) (size int64, err error) {
	hr := r.hosts
	dir, err := conn.MkTemp(ctx)
	if err != nil {
		return 0, err
	}
	hr.dirs[conn] = dir
	paths := map[string]string{}
	var files []string
	for _, b := range bins {
		if _, ok := paths[b]; ok {
			continue
		}
		name := filepath.Base(b)
		if b == r.cfg.Self {
			name = "perf"
		}
		// scp keeps the source's name: engines are bin/NAME, and the
		// perf binary is copied under its own name, then renamed.
		paths[b] = path.Join(dir, name)
		files = append(files, b)
		if st, err := os.Stat(b); err == nil {
			size += st.Size()
		}
	}
	if err := conn.Copy(ctx, dir, files...); err != nil {
		return 0, err
	}
	if base := filepath.Base(r.cfg.Self); base != "perf" {
		if _, err := conn.Output(ctx, "mv "+sshhost.Quote(path.Join(dir, base))+" "+sshhost.Quote(path.Join(dir, "perf"))); err != nil {
			return 0, err
		}
	}
	hr.paths[conn] = paths
	k, err := conn.Output(ctx, "uname -srm")
	if err != nil {
		return 0, err
	}
	hr.kernels[conn] = strings.TrimSpace(k)
	return size, nil
}

// closeHosts removes the hosts' directories and closes the connections;
// failures become notes.
func (r *runner) closeHosts() {
	hr := r.hosts
	if hr == nil {
		return
	}
	for _, c := range []*sshhost.Conn{hr.client, hr.server} {
		if c == nil {
			continue
		}
		if dir := hr.dirs[c]; dir != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if _, err := c.Output(ctx, "rm -rf "+sshhost.Quote(dir)); err != nil {
				r.run.Notes = append(r.run.Notes, fmt.Sprintf("hosts: %v", err))
			}
			cancel()
		}
		if err := c.Close(); err != nil {
			r.run.Notes = append(r.run.Notes, fmt.Sprintf("hosts: %v", err))
		}
	}
	r.hosts = nil
}

// remoteSpec is sp with its program replaced by its copy on conn's host.
func (hr *hostsRun) remoteSpec(conn *sshhost.Conn, sp supervise.Spec) (supervise.Spec, error) {
	p, ok := hr.paths[conn][sp.Path]
	if !ok {
		return sp, fmt.Errorf("%s was not copied to %s (--hosts copies the perf binary and the engines)", sp.Path, conn.T)
	}
	if sp.Name == "" {
		sp.Name = filepath.Base(sp.Path)
	}
	sp.Path = p
	sp.Dir = hr.dirs[conn]
	return sp, nil
}

// copyToServer copies a local file (a proxy's config) into the server
// host's directory and returns its path there.
func (r *runner) copyToServer(local string) (string, error) {
	hr := r.hosts
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := hr.server.Copy(ctx, hr.dirs[hr.server], local); err != nil {
		return "", err
	}
	return path.Join(hr.dirs[hr.server], filepath.Base(local)), nil
}

// startServer starts sp on the server host: the local ssh client is
// returned (its Ready and Stderr are the program's), the program itself
// is found by remoteOf.
func (r *runner) startServer(sp supervise.Spec) (*supervise.Proc, error) {
	hr := r.hosts
	rs, err := hr.remoteSpec(hr.server, sp)
	if err != nil {
		return nil, err
	}
	p, err := hr.server.Start(rs)
	if err != nil {
		return nil, err
	}
	remotes.Store(p.Local(), p)
	return p.Local(), nil
}

// runClient runs sp to its end on the client host.
func (r *runner) runClient(ctx context.Context, sp supervise.Spec) (supervise.Result, error) {
	hr := r.hosts
	rs, err := hr.remoteSpec(hr.client, sp)
	if err != nil {
		return supervise.Result{Code: -1}, err
	}
	return hr.client.Run(ctx, rs)
}

// hostsText is the Run table's "hosts" row.
func (hr *hostsRun) hostsText() string {
	return fmt.Sprintf("client %s (%s); server %s (%s)", hr.client.T, hr.kernels[hr.client], hr.server.T, hr.kernels[hr.server])
}

// onHosts is d run over --hosts: its ID suffixed "@hosts", its bin/dpdk
// targets absent.
func onHosts(d *scenarioDef) *scenarioDef {
	c := *d
	c.res.ID += "@hosts"
	c.res.Title += ", client and server on two hosts over SSH"
	c.res.Headline = false
	c.targets = nil
	for _, t := range d.targets {
		switch {
		case t.absent != "":
		case Userspace(t.name):
			t.absent = "bin/dpdk does not run over --hosts yet: on a real NIC it needs a PCI device (bin/dpdk has no --pci flag) and hugepages"
		case t.name == HAProxy:
			t.absent = "haproxy does not run over --hosts yet: the harness starts it on its own machine only (perf/anchor)"
		}
		c.targets = append(c.targets, t)
	}
	return &c
}
