// Package proxytest is the proxy's test and benchmark kit for engines that
// use real sockets: an engine module runs it with its own constructor,
//
//	func TestProxy(t *testing.T)      { proxytest.Run(t, goroutine.New) }
//	func BenchmarkProxy(b *testing.B) { proxytest.Bench(b, goroutine.New) }
//
// Clients and servers are plain package net sockets on loopback; only the
// proxy in the middle runs on the engine under test. Deterministic unit
// tests of the proxy's logic live in package proxy, on the in-memory
// engine.
package proxytest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"github.com/netmodels/netmodels/core/engine/enginetest"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/proxy"
	"github.com/netmodels/netmodels/core/proxy/config"
)

// Factory builds an engine (an engine module's New).
type Factory func(engine.Config) (engine.Engine, error)

// StartProxy runs a proxy for cfgText on a new engine and returns it with
// its bound addresses; everything stops at the end of the test.
func StartProxy(tb testing.TB, newEngine Factory, cfgText string) (*proxy.Proxy, []string) {
	tb.Helper()
	cfg, err := config.Parse([]config.File{{Name: "test.cfg", Data: []byte(cfgText)}}, config.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	eng, err := newEngine(proxy.EngineConfig(cfg))
	if err != nil {
		tb.Fatal(err)
	}
	opts := proxy.Options{Engine: eng}
	if os.Getenv("NETMODELS_PROXY_LOG") != "" {
		// Debugging aid: the proxy's own log lines on stderr.
		opts.Log = os.Stderr
		cfg.Global.Log = true
		for _, fe := range cfg.Frontends {
			fe.TCPLog = true
		}
	}
	p, err := proxy.New(cfg, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		p.SoftStop()
		ctx, cancel := contextWithTimeout(4 * time.Second)
		defer cancel()
		_ = eng.Shutdown(ctx)
	})
	var addrs []string
	for _, a := range p.Addrs() {
		addrs = append(addrs, a.String())
	}
	return p, addrs
}

// Server is a loopback TCP server whose connections run handle.
type Server struct {
	ln net.Listener
	wg sync.WaitGroup
}

// Close stops accepting and waits for the running handlers.
func (s *Server) Close() {
	_ = s.ln.Close()
	s.wg.Wait()
}

// Addr is the server's "host:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host is where the kit's own servers, haproxy and clients bind:
// 127.0.0.1, or for an engine on a userspace stack (impl-dpdk's tests, in
// their network namespace) a kernel address that stack can reach. The
// proxies under test always bind 127.0.0.1, which such an engine reads as
// its own address.
var Host = "127.0.0.1"

// StartServer listens on Host:0 and runs handle per connection.
func StartServer(tb testing.TB, handle func(c *net.TCPConn)) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(Host, "0"))
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handle(c.(*net.TCPConn))
			}()
		}
	}()
	tb.Cleanup(s.Close)
	return s
}

// Stream is a deterministic pseudo-random byte stream: both ends of a
// transfer can produce or check it without keeping it in memory.
type Stream struct{ r *rand.ChaCha8 }

// NewStream returns the stream for seed.
func NewStream(seed byte) *Stream {
	var k [32]byte
	k[0] = seed
	return &Stream{r: rand.NewChaCha8(k)}
}

func (s *Stream) Read(p []byte) (int, error) { return s.r.Read(p) }

// StreamSum is the SHA-256 of the first n bytes of the stream for seed.
func StreamSum(seed byte, n int64) [32]byte {
	h := sha256.New()
	_, _ = io.CopyN(h, NewStream(seed), n)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// stallTimeout is how long a stream may make no progress in either
// direction before the case fails. It bounds progress, not the whole
// transfer: an engine that is slow (the race detector on a userspace TCP
// stack moves 64 MiB through the proxy in minutes) passes, a stalled one
// fails.
const stallTimeout = 30 * time.Second

// halfCloser is a stream connection whose write side can be shut: a
// *net.TCPConn, or a *tls.Conn for the TLS cases.
type halfCloser interface {
	io.ReadWriter
	CloseWrite() error
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// progress arms a fresh stallTimeout deadline before every Read and
// Write. It has no ReadFrom/WriteTo, so io.Copy goes through them.
type progress struct{ c halfCloser }

func (p progress) Read(b []byte) (int, error) {
	_ = p.c.SetReadDeadline(time.Now().Add(stallTimeout))
	return p.c.Read(b)
}

func (p progress) Write(b []byte) (int, error) {
	_ = p.c.SetWriteDeadline(time.Now().Add(stallTimeout))
	return p.c.Write(b)
}

// sendAndSum writes n bytes of stream seed to c then shuts its write side,
// while reading everything from c until EOF; it returns the SHA-256 and
// count of what it read. Either direction stalling for stallTimeout fails
// it with a timeout.
func sendAndSum(hc halfCloser, seed byte, n int64) (sum [32]byte, got int64, err error) {
	c := progress{hc}
	werr := make(chan error, 1)
	go func() {
		_, err := io.CopyN(c, NewStream(seed), n)
		if err == nil {
			err = hc.CloseWrite()
		}
		werr <- err
	}()
	h := sha256.New()
	got, rerr := io.Copy(h, c)
	copy(sum[:], h.Sum(nil))
	if err := <-werr; err != nil {
		return sum, got, fmt.Errorf("write: %w", err)
	}
	if rerr != nil {
		return sum, got, fmt.Errorf("read: %w", rerr)
	}
	return sum, got, nil
}

// RelayBytes is how much the integrity test sends each way; the
// environment variable NETMODELS_RELAY_BYTES overrides it (the acceptance
// run uses 256 MiB).
func RelayBytes() int64 {
	if v, err := strconv.ParseInt(os.Getenv("NETMODELS_RELAY_BYTES"), 10, 64); err == nil && v > 0 {
		return v
	}
	return 32 << 20
}

func relayCfg(bind, server string, splice bool) string {
	opt := ""
	if splice {
		opt = "    option splice-request\n    option splice-response\n"
	}
	// timeout connect is generous: these cases test relaying, and a
	// connect that outlives it is retried on a new backend connection,
	// which ManySessions would see as a stray EOF at the backend (seen
	// on bin/dpdk under -race with 64 sessions starting at once).
	return fmt.Sprintf(`defaults
    mode tcp
    timeout connect 10s
    timeout client 30s
    timeout server 30s
%slisten l
    bind %s
    server s1 %s
`, opt, bind, server)
}

// Run runs the kit's tests against the engine.
func Run(t *testing.T, newEngine Factory) {
	RunWith(t, newEngine, nil)
}

// RunWith is Run for an engine with declared limitations (the same
// convention as enginetest.RunWith): a declared case is reported as skipped
// with "UNSUPPORTED: reason", never as passed; ENGINETEST_UNSUPPORTED=1 runs
// it anyway. A declared name that is not a case fails the run.
func RunWith(t *testing.T, newEngine Factory, unsupported enginetest.Unsupported) {
	cases := []enginetest.Case{
		{Name: "RelayIntegrity/copy", Run: func(t *testing.T) { testRelayIntegrity(t, newEngine, false) }},
		{Name: "RelayIntegrity/splice", Run: func(t *testing.T) { testRelayIntegrity(t, newEngine, true) }},
		{Name: "HalfClose", Run: func(t *testing.T) { testHalfClose(t, newEngine) }},
		{Name: "ServerFirst", Run: func(t *testing.T) { testServerFirst(t, newEngine) }},
		{Name: "Unreachable", Run: func(t *testing.T) { testUnreachable(t, newEngine) }},
		{Name: "ManySessions", Run: func(t *testing.T) { testManySessions(t, newEngine) }},
		{Name: "SlowReader", Run: func(t *testing.T) { testSlowReader(t, newEngine) }},
		{Name: "IPv6Bind", Run: func(t *testing.T) { testIPv6(t, newEngine) }},
		{Name: "HAProxyInterop", Run: func(t *testing.T) { RunHAProxyInterop(t, newEngine) }},
	}
	for _, c := range tlsCases(newEngine) {
		cases = append(cases, enginetest.Case{Name: c.name, Run: c.run})
	}
	enginetest.RunCases(t, "proxytest", cases, unsupported)
}

// RunTLS runs only the kit's TLS cases (for an engine module that does not
// run the whole kit yet).
func RunTLS(t *testing.T, newEngine Factory, unsupported enginetest.Unsupported) {
	var cases []enginetest.Case
	for _, c := range tlsCases(newEngine) {
		cases = append(cases, enginetest.Case{Name: c.name, Run: c.run})
	}
	enginetest.RunCases(t, "proxytest", cases, unsupported)
}

// testRelayIntegrity sends RelayBytes each way at once through the proxy
// and compares SHA-256 sums (issue 4: "Relay integrity").
func testRelayIntegrity(t *testing.T, newEngine Factory, splice bool) {
	n := RelayBytes()
	type result struct {
		sum [32]byte
		got int64
		err error
	}
	srvRes := make(chan result, 1)
	srv := StartServer(t, func(c *net.TCPConn) {
		sum, got, err := sendAndSum(c, 2, n)
		srvRes <- result{sum, got, err}
	})
	_, addrs := StartProxy(t, newEngine, relayCfg("127.0.0.1:0", srv.Addr(), splice))
	c, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sum, got, err := sendAndSum(c.(*net.TCPConn), 1, n)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	sr := <-srvRes
	if sr.err != nil {
		t.Fatalf("server: %v", sr.err)
	}
	if got != n || sum != StreamSum(2, n) {
		t.Errorf("server→client: got %d bytes, sha256 equal=%v", got, sum == StreamSum(2, n))
	}
	if sr.got != n || sr.sum != StreamSum(1, n) {
		t.Errorf("client→server: got %d bytes, sha256 equal=%v", sr.got, sr.sum == StreamSum(1, n))
	}
}

// testHalfClose: the client shuts its write side first; the server still
// sends its whole reply after seeing EOF, then closes.
func testHalfClose(t *testing.T, newEngine Factory) {
	reply := bytes.Repeat([]byte("reply "), 100_000)
	srv := StartServer(t, func(c *net.TCPConn) {
		req, err := io.ReadAll(c) // until the client's FIN arrives through the proxy
		if err != nil || string(req) != "request" {
			return
		}
		_, _ = c.Write(reply)
		_ = c.CloseWrite()
		_, _ = io.Copy(io.Discard, c)
	})
	_, addrs := StartProxy(t, newEngine, relayCfg("127.0.0.1:0", srv.Addr(), false))
	c, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, reply) {
		t.Fatalf("reply after half-close: %d bytes, want %d", len(got), len(reply))
	}
}

func testIPv6(t *testing.T, newEngine Factory) {
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skip("no IPv6 loopback here")
	} else {
		ln.Close()
	}
	srv := StartServer(t, func(c *net.TCPConn) { _, _ = io.Copy(c, c) })
	_, addrs := StartProxy(t, newEngine, relayCfg("[::1]:0", srv.Addr(), false))
	if !strings.HasPrefix(addrs[0], "[::1]:") {
		t.Fatalf("bound %s", addrs[0])
	}
	c, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo over [::1]: %q %v", buf, err)
	}
}
