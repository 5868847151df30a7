package suite

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/netmodels/netmodels/conformance/internal/harness"
	"github.com/netmodels/netmodels/core/peers"
)

// Health checks (tcp-check and the protocol checks) and balancing cases
// of issue 16. Each config is plain haproxy.cfg, so the same case runs on
// haproxy 2.6 as its reference.

const specChecks = "spec/proxy.md §5 (health checks); HAProxy 2.6 src/tcpcheck.c"

// redisMasterCheck is issue 16's Redis backend: only a master passes.
const redisMasterCheck = `    balance roundrobin
    timeout check 1s
    option tcp-check
    tcp-check send PING\r\n
    tcp-check expect string +PONG
    tcp-check send info\ replication\r\n
    tcp-check expect string role:master
    tcp-check send QUIT\r\n
    tcp-check expect string +OK
`

// redisPort asks, through the proxy at addr, which redis server it
// reached (its port); "" if the connection did not reach a redis server.
func redisPort(addr string) string {
	s, err := peers.RedisCommand(addr, 2*time.Second, "CONFIG", "GET", "port")
	if err != nil {
		return ""
	}
	if _, port, ok := strings.Cut(s, "\n"); ok {
		return port
	}
	return ""
}

// onlyTo reports whether n connections in a row through addr reach the
// redis server listening on port.
func onlyTo(addr, port string, n int) bool {
	_, ok := reached(addr, port, n)
	return ok
}

// reached makes up to n connections through addr and lists the redis
// ports they reached ("none" for no answer), stopping at the first that
// is not port; ok is true when all n reached port.
func reached(addr, port string, n int) (got []string, ok bool) {
	for range n {
		p := redisPort(addr)
		if p == "" {
			p = "none"
		}
		got = append(got, p)
		if p != port {
			return got, false
		}
	}
	return got, true
}

func startRedisPair(t *harness.T) (master, replica *peers.Redis) {
	t.Helper()
	if _, err := peers.RedisBinary(); err != nil {
		t.Fatal(err) // make deps installs redis-server
	}
	// Port 0: StartRedis picks the port and picks again if another
	// process took it before redis-server bound it.
	port0 := net.JoinHostPort(harness.HostIP(), "0")
	master = peers.StartRedisT(t, peers.RedisOptions{Addr: port0})
	replica = peers.StartRedisT(t, peers.RedisOptions{Addr: port0, ReplicaOf: master.Addr})
	// Observe the replica's link to the master (its own asynchronous state).
	if !waitFor(15*time.Second, func() bool {
		info, err := replica.Do("INFO", "replication")
		return err == nil && strings.Contains(info, "master_link_status:up")
	}) {
		t.Fatalf("the redis replica never synced with its master\n%s", replica.LogTail(10))
	}
	return master, replica
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

var proxyCheckCases = []harness.Case{
	pc("proxy-tcpcheck-redis-failover", specChecks+"; issue 16 (Redis master/replica)",
		"tcp-check PING/+PONG, INFO replication/role:master, QUIT/+OK on a redis-server master and replica: traffic goes only to the master, and after REPLICAOF swaps the roles it moves to the new master within fall × (inter + timeout check) + inter",
		func(t *harness.T, e harness.Engine) {
			const inter, tcheck, fall = 300 * time.Millisecond, time.Second, 2
			m, r := startRedisPair(t)
			srv := fmt.Sprintf(" check inter %dms fall %d rise 1", inter.Milliseconds(), fall)
			admin := filepath.Join(t.TempDir(), "admin.sock")
			cfg := simpleCfg("", "", redisMasterCheck, m.Addr+srv, r.Addr+srv)
			cfg = strings.Replace(cfg, "global\n", "global\n    stats socket "+admin+" mode 600 level admin\n", 1)
			p := startProxy(t, e, cfg)
			front := p.Addr(0)
			// The checks' verdict comes from the proxy itself (show stat):
			// a streak of connections to one server proves nothing while
			// both are up, since round robin may pick a server that just
			// came up several times in a row (HAProxy's does).
			master := func(up, down string) func() bool {
				return func() bool {
					_, rows := statRows(t, apiCmd(t, admin, "show stat"))
					return rows["be/"+up]["status"] == "UP" && rows["be/"+down]["status"] == "DOWN"
				}
			}
			// Servers start up; the replica's checks take it out.
			if !waitFor(10*time.Second, master("s1", "s2")) {
				t.Fatal("the checks never settled on s1 (master) UP, s2 (replica) DOWN")
			}
			if got, ok := reached(front, portOf(m.Addr), 6); !ok {
				t.Fatalf("a connection did not reach the master (port %s): reached %v", portOf(m.Addr), got)
			}
			if _, err := r.Do("REPLICAOF", "NO", "ONE"); err != nil {
				t.Fatal(err)
			}
			host, port, _ := net.SplitHostPort(r.Addr)
			if _, err := m.Do("REPLICAOF", host, port); err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			// The checks' bound, plus slack for scheduling on a shared,
			// loaded machine.
			bound := fall*(inter+tcheck) + inter
			const slack = 3 * time.Second
			if !waitFor(bound+slack, master("s2", "s1")) {
				t.Fatalf("the checks did not swap the roles within %v + %v", bound, slack)
			}
			t.Logf("the checks swapped the roles %v after the failover (check bound %v)", time.Since(t0).Round(time.Millisecond), bound)
			if got, ok := reached(front, portOf(r.Addr), 6); !ok {
				t.Fatalf("a connection did not reach the new master after the failover (port %s): reached %v", portOf(r.Addr), got)
			}
		}),
	pc("proxy-check-redis", specChecks+" (option redis-check)",
		"option redis-check: a server that answers PING with an error and closes is taken out; every connection reaches the real redis-server",
		func(t *harness.T, e harness.Engine) {
			if _, err := peers.RedisBinary(); err != nil {
				t.Fatal(err)
			}
			rd := peers.StartRedisT(t, peers.RedisOptions{Addr: net.JoinHostPort(harness.HostIP(), "0")})
			other := newBackend(t, func(c net.Conn) {
				_, _ = c.Write([]byte("-ERR not redis\r\n"))
				_ = c.Close()
			})
			// timeout check and fall 3 keep a loaded machine from failing
			// the good server; the bad one fails at once (a wrong reply,
			// then EOF).
			chk := " check inter 100ms fall 3 rise 1"
			p := startProxy(t, e, simpleCfg("", "", "    balance roundrobin\n    timeout check 2s\n    option redis-check\n", other.addr()+chk, rd.Addr+chk))
			if !waitFor(5*time.Second, func() bool { return onlyTo(p.Addr(0), portOf(rd.Addr), 4) }) {
				t.Fatal("the non-redis server was never taken out")
			}
			if !onlyTo(p.Addr(0), portOf(rd.Addr), 6) {
				t.Fatal("a connection reached the non-redis server")
			}
		}),
	pc("proxy-check-ssl-hello", specChecks+" (option ssl-hello-chk: HAProxy's SSLv3 ClientHello; a handshake or alert record back passes)",
		"option ssl-hello-chk: a plain-text server is taken out; every connection reaches the in-test TLS server (a TLS handshake through the proxy succeeds)",
		func(t *harness.T, e harness.Engine) {
			ts := tlsBackend(t)
			plain := newBackend(t, tagged("plain"))
			chk := " check inter 100ms fall 3 rise 1"
			p := startProxy(t, e, simpleCfg("", "", "    balance roundrobin\n    timeout check 2s\n    option ssl-hello-chk\n", plain.addr()+chk, ts+chk))
			handshake := func() bool {
				c, err := net.DialTimeout("tcp", p.Addr(0), 2*time.Second)
				if err != nil {
					return false
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(2 * time.Second))
				tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true}) // a throwaway self-signed certificate
				return tc.Handshake() == nil
			}
			in4 := func() bool {
				for range 4 {
					if !handshake() {
						return false
					}
				}
				return true
			}
			if !waitFor(5*time.Second, in4) {
				t.Fatal("the plain-text server was never taken out")
			}
			for i := range 6 {
				if !handshake() {
					t.Fatalf("connection %d did not reach the TLS server", i)
				}
			}
		}),
	pc("proxy-tcpcheck-connect-ssl", specChecks+" (tcp-check connect ssl)",
		"tcp-check connect ssl, send PING, expect PONG over TLS (verify none): a plain-text server is taken out; every connection reaches the in-test TLS server that answers PONG",
		func(t *harness.T, e harness.Engine) {
			ts := tlsBackendWith(t, func(c *tls.Conn) {
				buf := make([]byte, 64)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if strings.Contains(string(buf[:n]), "PING") {
						_, _ = c.Write([]byte("PONG\r\n"))
					}
				}
			})
			plain := newBackend(t, tagged("plain"))
			chk := " check inter 100ms fall 3 rise 1 verify none"
			rules := "    balance roundrobin\n    timeout check 2s\n    option tcp-check\n    tcp-check connect ssl\n    tcp-check send PING\\r\\n\n    tcp-check expect string PONG\n"
			p := startProxy(t, e, simpleCfg("", "", rules, plain.addr()+chk, ts+chk))
			pong := func() bool {
				c, err := net.DialTimeout("tcp", p.Addr(0), 2*time.Second)
				if err != nil {
					return false
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(2 * time.Second))
				tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true}) // a throwaway self-signed certificate
				if _, err := tc.Write([]byte("PING\r\n")); err != nil {
					return false
				}
				b := make([]byte, 6)
				_, err = io.ReadFull(tc, b)
				return err == nil && string(b) == "PONG\r\n"
			}
			if !waitFor(5*time.Second, func() bool { return pong() && pong() && pong() && pong() }) {
				t.Fatal("the plain-text server was never taken out")
			}
			for i := range 6 {
				if !pong() {
					t.Fatalf("connection %d did not reach the TLS server", i)
				}
			}
		}),
	pc("proxy-balance-first", "spec/proxy.md §5 (balance first); HAProxy 2.6 lb_fas.c",
		"balance first with maxconn 2: two concurrent sessions land on the first server, the third on the second; once a first-server session ends, the next goes to the first server again",
		func(t *harness.T, e harness.Engine) {
			a, b := newBackend(t, tagged("a")), newBackend(t, tagged("b"))
			p := startProxy(t, e, simpleCfg("", "", "    balance first\n", a.addr()+" maxconn 2", b.addr()+" maxconn 2"))
			n1, c1 := whichServer(t, p.Addr(0), "")
			n2, _ := whichServer(t, p.Addr(0), "")
			n3, _ := whichServer(t, p.Addr(0), "")
			if n1 != "a" || n2 != "a" || n3 != "b" {
				t.Fatalf("three concurrent sessions went to %s, %s, %s; want a, a, b", n1, n2, n3)
			}
			c1.Close()
			if !waitFor(3*time.Second, func() bool {
				n, c := whichServer(t, p.Addr(0), "")
				c.Close()
				return n == "a"
			}) {
				t.Fatal("a freed slot on the first server is not used first")
			}
		}),
	pc("proxy-balance-static-rr", "spec/proxy.md §5 (balance static-rr); HAProxy 2.6 lb_map.c",
		"static-rr with weights 3 and 1: 8 sequential connections follow HAProxy's server map, a a a b a a a b",
		func(t *harness.T, e harness.Engine) {
			a, b := newBackend(t, tagged("a")), newBackend(t, tagged("b"))
			p := startProxy(t, e, simpleCfg("", "", "    balance static-rr\n", a.addr()+" weight 3", b.addr()+" weight 1"))
			var seq []string
			for range 8 {
				n, c := whichServer(t, p.Addr(0), "")
				c.Close()
				seq = append(seq, n)
			}
			if s := strings.Join(seq, ""); s != "aaabaaab" {
				t.Fatalf("sequence %s, want aaabaaab", s)
			}
		}),
	pc("proxy-balance-source-map", "spec/proxy.md §5 (balance source, hash-type map-based); HAProxy 2.6 backend.c get_server_sh",
		"balance source (map-based, the default) over 2 equal servers: a client IPv4 address taken as a 32-bit integer picks server (address mod 2) + 1, for two source addresses",
		func(t *harness.T, e harness.Engine) {
			a, b := newBackend(t, tagged("s1")), newBackend(t, tagged("s2"))
			p := startProxy(t, e, simpleCfg("", "", "    balance source\n", a.addr(), b.addr()))
			for _, src := range []string{harness.HostIP(), harness.HostIP2()} {
				ip := netip.MustParseAddr(src).As4()
				want := fmt.Sprintf("s%d", binary.BigEndian.Uint32(ip[:])%2+1)
				for range 3 {
					n, c := whichServer(t, p.Addr(0), src)
					c.Close()
					if n != want {
						t.Fatalf("source %s reached %s, want %s", src, n, want)
					}
				}
			}
		}),
	pc("proxy-balance-source-consistent", "spec/proxy.md §5 (hash-type consistent); HAProxy 2.6 lb_chash.c, hash.h full_hash",
		"balance source with hash-type consistent over servers of weights 1, 2, 1: each client address goes to the server whose ring point (weight × 16 points, full_hash(id × 4096 + j)) is nearest to full_hash(address), computed here from HAProxy's algorithm",
		func(t *harness.T, e harness.Engine) {
			bs := []*backend{newBackend(t, tagged("s1")), newBackend(t, tagged("s2")), newBackend(t, tagged("s3"))}
			weights := []int{1, 2, 1}
			p := startProxy(t, e, simpleCfg("", "", "    balance source\n    hash-type consistent\n",
				bs[0].addr(), bs[1].addr()+" weight 2", bs[2].addr()))
			for _, src := range []string{harness.HostIP(), harness.HostIP2()} {
				ip := netip.MustParseAddr(src).As4()
				want := fmt.Sprintf("s%d", chashPick(haFullHash(binary.BigEndian.Uint32(ip[:])), weights)+1)
				for range 3 {
					n, c := whichServer(t, p.Addr(0), src)
					c.Close()
					if n != want {
						t.Fatalf("source %s reached %s, want %s", src, n, want)
					}
				}
			}
		}),
}

// tlsBackend serves TLS with a fresh self-signed ECDSA certificate on
// HostIP and returns its address; each connection handshakes, then
// closes.
func tlsBackend(t *harness.T) string {
	return tlsBackendWith(t, func(c *tls.Conn) {
		buf := make([]byte, 1)
		_, _ = c.Read(buf) // until the client closes
	})
}

// tlsBackendWith is tlsBackend with serve running each handshaken
// connection.
func tlsBackendWith(t *harness.T, serve func(*tls.Conn)) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "check.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"check.test"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	ln, err := tls.Listen("tcp", net.JoinHostPort(harness.HostIP(), "0"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					serve(c.(*tls.Conn))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// haFullHash is HAProxy's full_hash (src/hash.h), written out here from
// its source rather than taken from core.
func haFullHash(a uint32) uint32 {
	a = (a + 0x7ed55d16) + (a << 12)
	a = (a ^ 0xc761c23c) ^ (a >> 19)
	a = (a + 0x165667b1) + (a << 5)
	a = (a + 0xd3a2646c) ^ (a << 9)
	a = (a + 0xfd7046c5) + (a << 3)
	a = (a ^ 0xb55a4f09) ^ (a >> 16)
	return a * 3221225473
}

// chashPick is lb_chash.c's choice for key among servers with ids 1..n
// and the given weights: the nearest ring point on either side (the
// previous one on a tie).
func chashPick(key uint32, weights []int) int {
	type point struct {
		k   uint32
		srv int
	}
	var pts []point
	for i, w := range weights {
		for j := 0; j < w*16; j++ {
			pts = append(pts, point{haFullHash(uint32((i+1)*4096 + j)), i})
		}
	}
	sort.Slice(pts, func(a, b int) bool { return pts[a].k < pts[b].k })
	next := sort.Search(len(pts), func(i int) bool { return pts[i].k >= key }) % len(pts)
	prev := (next - 1 + len(pts)) % len(pts)
	if key-pts[prev].k <= pts[next].k-key {
		return pts[prev].srv
	}
	return pts[next].srv
}
