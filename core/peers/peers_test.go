package peers

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/proxy/proxyproto"
	"golang.org/x/sys/unix"
)

// TestMain doubles as a stubborn child process for TestStopEscalatesToKill.
func TestMain(m *testing.M) {
	if os.Getenv("PEERS_TEST_IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ignoring SIGTERM")
		select {}
	}
	os.Exit(m.Run())
}

// assertGone checks that no process with pid exists any more (not even a
// zombie: Stop reaps).
func assertGone(t *testing.T, pid int) {
	t.Helper()
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("/proc/%d still exists after Stop (err %v)", pid, err)
	}
}

// echoBackend serves a goroutine-per-connection echo on 127.0.0.1:0. If
// proxyHeader is non-nil, each connection must start with a PROXY header,
// which is decoded incrementally and sent on the channel.
func echoBackend(t *testing.T, proxyHeader chan<- proxyproto.Header) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if proxyHeader != nil {
					var buf []byte
					chunk := make([]byte, 64)
					for {
						n, err := c.Read(chunk)
						if err != nil {
							return
						}
						buf = append(buf, chunk[:n]...)
						h, used, err := proxyproto.Decode(buf)
						if err == proxyproto.ErrNeedMore {
							continue
						}
						if err != nil {
							t.Errorf("backend: %v", err)
							return
						}
						proxyHeader <- h
						if _, err := c.Write(buf[used:]); err != nil {
							return
						}
						break
					}
				}
				io.Copy(c, c)
			}()
		}
	}()
	return l.Addr().String()
}

func haproxyConfig(front, back, serverOpts string) string {
	return fmt.Sprintf(`global
    log stdout format raw local0
    nbthread 1
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 5s
    timeout client 30s
    timeout server 30s
listen relay
    bind %s
    server s1 %s %s
`, front, back, serverOpts)
}

func roundTrip(t *testing.T, addr string, msg []byte) (net.Conn, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read echo through %s: %v", addr, err)
	}
	return c, got
}

func TestHAProxyRelaysToEcho(t *testing.T) {
	back := echoBackend(t, nil)
	front := fmt.Sprintf("127.0.0.1:%d", FreePortT(t))
	p := StartHAProxyT(t, haproxyConfig(front, back, ""), HAProxyOptions{})
	msg := bytes.Repeat([]byte("ping-"), 10000) // 50 KB: several reads each way
	c, got := roundTrip(t, front, msg)
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo through haproxy differs")
	}
	c.Close()
	// HAProxy logs a session when it ends.
	if err := p.WaitLog("relay relay/s1", 1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if !p.Alive() {
		t.Fatal("haproxy died")
	}
	pid := p.PID()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, pid)
	if p.Alive() {
		t.Error("Alive after Stop")
	}
	// The log stays readable after Stop.
	if !strings.Contains(p.Log(), "relay relay/s1") {
		t.Errorf("haproxy log lacks the session:\n%s", p.Log())
	}
}

// TestHAProxySendProxyV2 checks the real haproxy against our decoder: the
// backend gets a v2 header whose source is the client's socket address.
func TestHAProxySendProxyV2(t *testing.T) {
	headers := make(chan proxyproto.Header, 1)
	back := echoBackend(t, headers)
	front := fmt.Sprintf("127.0.0.1:%d", FreePortT(t))
	StartHAProxyT(t, haproxyConfig(front, back, "send-proxy-v2"), HAProxyOptions{})
	c, got := roundTrip(t, front, []byte("hello"))
	defer c.Close()
	if string(got) != "hello" {
		t.Fatalf("echo %q", got)
	}
	h := <-headers
	src, dst, ok := h.Addresses()
	want := netip.MustParseAddrPort(c.LocalAddr().String())
	if !ok || h.Version != 2 || src != want || dst.String() != front {
		t.Errorf("header %s; want v2 %s -> %s", h, want, front)
	}
}

func TestHAProxyBadConfig(t *testing.T) {
	_, err := StartHAProxy("global\n    no-such-keyword 1\n", HAProxyOptions{})
	if err == nil || !strings.Contains(err.Error(), "no-such-keyword") {
		t.Fatalf("err = %v; want haproxy's complaint quoted", err)
	}
}

func TestHAProxyBindAddrs(t *testing.T) {
	cfg := `frontend f
    bind 127.0.0.1:8001
    bind 127.0.0.1:8002,127.0.0.1:8003 accept-proxy # comment
    bind ipv4@127.0.0.1:8004
    bind [::1]:8005
    bind :8006
    bind unix@/tmp/x.sock
    bind 127.0.0.1:9000-9010
    # bind 127.0.0.1:1
`
	got := haproxyBindAddrs(cfg)
	want := []string{"127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003", "127.0.0.1:8004", "[::1]:8005", ":8006"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// legacyAddr decodes msgr1's 136-byte entity_addr_t as the banner carries
// it: u32 marker, le32 nonce, sockaddr_storage with a big-endian family
// and port.
func legacyAddr(b []byte) (family uint16, ap netip.AddrPort) {
	family = binary.BigEndian.Uint16(b[8:10])
	port := binary.BigEndian.Uint16(b[10:12])
	return family, netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[12:16])), port)
}

func TestCephMonBanner(t *testing.T) {
	m := StartCephMonT(t, CephMonOptions{})
	c, err := net.DialTimeout("tcp4", m.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 9+136+136)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("banner: %v", err)
	}
	if string(buf[:9]) != "ceph v027" {
		t.Fatalf("banner %q, want \"ceph v027\"", buf[:9])
	}
	fam, mon := legacyAddr(buf[9:])
	if fam != syscall.AF_INET || mon.String() != m.Addr {
		t.Errorf("mon's address: family %d %s, want AF_INET %s", fam, mon, m.Addr)
	}
	_, us := legacyAddr(buf[9+136:])
	if us.Port() != netip.MustParseAddrPort(c.LocalAddr().String()).Port() {
		t.Errorf("our address as the mon sees it: %s, we are %s", us, c.LocalAddr())
	}
	if !strings.Contains(m.Log(), "in quorum") {
		t.Error("mon log lacks the quorum line StartCephMon waited for")
	}
	c.Close()
	pid := m.PID()
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, pid)
}

// TestCephMonPeerDialsUs: with PeerMonAddr the real mon dials our address
// as its peer and starts a msgr1 handshake with its banner.
func TestCephMonPeerDialsUs(t *testing.T) {
	ports, err := FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	peer := fmt.Sprintf("127.0.0.1:%d", ports[1])
	l, err := net.Listen("tcp4", peer)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := StartCephMonT(t, CephMonOptions{Addr: fmt.Sprintf("127.0.0.1:%d", ports[0]), PeerMonAddr: peer})
	l.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("the mon never dialled its peer: %v\n%s", err, m.LogTail(20))
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	banner := make([]byte, 9)
	if _, err := io.ReadFull(c, banner); err != nil || string(banner) != "ceph v027" {
		t.Fatalf("banner %q, %v", banner, err)
	}
	conf, err := os.ReadFile(m.ConfPath)
	if err != nil || !strings.Contains(string(conf), "mon_probe_timeout = 0.2") {
		t.Errorf("fast timers missing from ceph.conf (%v)", err)
	}
}

func TestCephMonRestart(t *testing.T) {
	m := StartCephMonT(t, CephMonOptions{SkipQuorumWait: true})
	old := m.PID()
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	if m.PID() == old {
		t.Fatal("same PID after Restart")
	}
	assertGone(t, old)
	c, err := net.DialTimeout("tcp4", m.Addr, 5*time.Second)
	if err != nil {
		t.Fatalf("after Restart: %v", err)
	}
	c.Close()
}

func TestStopEscalatesToKill(t *testing.T) {
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	os.Setenv("PEERS_TEST_IGNORE_TERM", "1")
	p, err := spawn("stubborn", exe, []string{"-test.run=^$"}, dir, filepath.Join(dir, "out.log"), "", nil)
	os.Unsetenv("PEERS_TEST_IGNORE_TERM")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitLog("ignoring SIGTERM", 1, 10*time.Second); err != nil {
		p.Stop()
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Stop(); err != nil { // a peer's shutdown time is its own
		t.Fatal(err)
	}
	if d := time.Since(start); d < StopTimeout {
		t.Errorf("stopped after %v; SIGTERM is ignored, so SIGKILL should come after %v", d, StopTimeout)
	}
	assertGone(t, p.PID())
}

func TestStopReportsEarlyExit(t *testing.T) {
	dir := t.TempDir()
	p, err := spawn("false", "/bin/false", nil, dir, filepath.Join(dir, "out.log"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if err := p.Stop(); err == nil || !strings.Contains(err.Error(), "exited on its own") {
		t.Errorf("Stop = %v, want an early-exit error", err)
	}
	if err := p.waitListening([]string{"127.0.0.1:1"}, time.Hour); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("waiting on a dead process: %v", err)
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(ports) || ports[0] == ports[1] || ports[1] == ports[2] {
		t.Errorf("ports %v: want 3 distinct, ascending", ports)
	}
}

// TestPinnedAndUsage: a peer started with CPUs runs there from its start,
// and its CPU time and memory are readable (core/supervise Usage).
func TestPinnedAndUsage(t *testing.T) {
	back := echoBackend(t, nil)
	front := fmt.Sprintf("127.0.0.1:%d", FreePortT(t))
	var mine unix.CPUSet
	if err := unix.SchedGetaffinity(0, &mine); err != nil || !mine.IsSet(0) {
		t.Skipf("CPU 0 is not ours to pin to (%v)", err)
	}
	p := StartHAProxyT(t, haproxyConfig(front, back, ""), HAProxyOptions{CPUs: []int{0}})
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(p.PID(), &set); err != nil || set.Count() != 1 || !set.IsSet(0) {
		t.Errorf("haproxy's affinity with CPUs [0]: %v (count %d)", err, set.Count())
	}
	before, err := p.Usage()
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("x"), 4<<20) // enough relaying to show up
	c, got := roundTrip(t, front, msg)
	c.Close()
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs")
	}
	after, err := p.Usage()
	if err != nil || after.CPUSeconds <= before.CPUSeconds || after.RSSBytes < 1<<20 {
		t.Errorf("usage %+v -> %+v, %v", before, after, err)
	}
}

// TestReadyTimeoutQuotesLog: a peer that never gets ready yields a bounded
// wait and an error that quotes its log, and leaves nothing running.
func TestReadyTimeoutQuotesLog(t *testing.T) {
	back := echoBackend(t, nil)
	front := fmt.Sprintf("127.0.0.1:%d", FreePortT(t))
	never := fmt.Sprintf("127.0.0.1:%d", FreePortT(t))
	dir := t.TempDir()
	start := time.Now()
	_, err := StartHAProxy(haproxyConfig(front, back, ""), HAProxyOptions{Dir: dir, WaitAddrs: []string{front, never}, ReadyTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "timed out") || !strings.Contains(err.Error(), never) {
		t.Fatalf("err = %v; want a timeout naming %s", err, never)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	// The failed start stopped its haproxy: nothing listens on front.
	if c, err := net.DialTimeout("tcp4", front, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts after a failed start", front)
	}
}

func TestCheckLocalAddr(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:6789", true},
		{"198.51.100.1:6789", true},
		{"192.0.2.6:1", true},
		{"10.0.0.1:6789", false},
		{"[::1]:6789", false},
		{"localhost:6789", false},
	} {
		if err := checkLocalAddr(tc.addr); (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok %v", tc.addr, err, tc.ok)
		}
	}
}

// A master and a replica on loopback: the replica syncs, and REPLICAOF
// swaps the roles (what the tcp-check failover case does).
func TestRedisMasterReplica(t *testing.T) {
	m := StartRedisT(t, RedisOptions{Addr: "127.0.0.1:0"})
	r := StartRedisT(t, RedisOptions{Addr: "127.0.0.1:0", ReplicaOf: m.Addr})
	if s, err := m.Do("PING"); err != nil || s != "PONG" {
		t.Fatalf("PING: %q %v", s, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := r.Do("INFO", "replication")
		if err == nil && strings.Contains(info, "master_link_status:up") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica never synced: %q %v\n%s", info, err, r.LogTail(10))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := r.Do("REPLICAOF", "NO", "ONE"); err != nil {
		t.Fatal(err)
	}
	if info, _ := r.Do("INFO", "replication"); !strings.Contains(info, "role:master") {
		t.Fatalf("after REPLICAOF NO ONE: %s", info)
	}
	rh, rp, _ := net.SplitHostPort(r.Addr)
	if _, err := m.Do("REPLICAOF", rh, rp); err != nil {
		t.Fatal(err)
	}
	if info, _ := m.Do("INFO", "replication"); !strings.Contains(info, "role:slave") {
		t.Fatalf("old master after REPLICAOF: %s", info)
	}
}

// TestRedisTakenPort pins what StartRedis's port retry looks for: the text
// redis-server logs when its port is taken. Then a pick that hands out a
// taken port first is retried with the next one.
func TestRedisTakenPort(t *testing.T) {
	if _, err := RedisBinary(); err != nil {
		t.Fatal(err) // make deps installs redis-server
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	_, err = StartRedis(RedisOptions{Addr: fmt.Sprintf("127.0.0.1:%d", taken), Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), redisPortTaken) {
		t.Fatalf("redis-server on a taken port: %v, want an error containing %q", err, redisPortTaken)
	}

	picks := 0
	defer func(f func() (int, error)) { pickPort = f }(pickPort)
	pickPort = func() (int, error) {
		picks++
		if picks == 1 {
			return taken, nil
		}
		return FreePort()
	}
	r := StartRedisT(t, RedisOptions{Addr: "127.0.0.1:0"})
	if picks != 2 || r.Addr == fmt.Sprintf("127.0.0.1:%d", taken) {
		t.Fatalf("picks %d, addr %s: want the taken port %d skipped on the second pick", picks, r.Addr, taken)
	}
	if s, err := r.Do("PING"); err != nil || s != "PONG" {
		t.Fatalf("PING: %q %v", s, err)
	}
}

// TestCephMonV2Addr: with V2Addr the mon binds msgr2 there (its banner is
// "ceph v2\n") next to msgr1 on Addr.
func TestCephMonV2Addr(t *testing.T) {
	ports, err := FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	v2 := fmt.Sprintf("127.0.0.1:%d", ports[1])
	m := StartCephMonT(t, CephMonOptions{Addr: fmt.Sprintf("127.0.0.1:%d", ports[0]), V2Addr: v2, SkipQuorumWait: true})
	if m.V2Addr != v2 {
		t.Fatalf("V2Addr %q", m.V2Addr)
	}
	for addr, banner := range map[string]string{m.Addr: "ceph v027", m.V2Addr: "ceph v2\n"} {
		c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, len(banner))
		_, err = io.ReadFull(c, got)
		c.Close()
		if err != nil || string(got) != banner {
			t.Errorf("%s: banner %q (%v), want %q", addr, got, err, banner)
		}
	}
}
