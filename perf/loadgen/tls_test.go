package loadgen_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/perf/loadgen"
	"github.com/netmodels/netmodels/perf/rawtcp"
	"github.com/netmodels/netmodels/perf/tlscert"
)

// terminator is the smallest TLS-terminating relay: what the TLS
// scenarios put a proxy in front of rawtcp for. It counts the handshakes
// it completed and the TLS versions and resumptions it saw.
type terminator struct {
	ln       net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	done     int
	resumed  int
	versions map[uint16]int
}

func startTerminator(t *testing.T, backend string, kind string) *terminator {
	t.Helper()
	pemBytes, err := tlscert.Generate(kind)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(pemBytes, pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	tm := &terminator{ln: ln, versions: map[uint16]int{}}
	tm.wg.Add(1)
	go func() {
		defer tm.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tm.wg.Add(1)
			go func() {
				defer tm.wg.Done()
				tm.relay(c.(*tls.Conn), backend)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); tm.wg.Wait() })
	return tm
}

func (tm *terminator) relay(c *tls.Conn, backend string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if err := c.Handshake(); err != nil {
		return
	}
	st := c.ConnectionState()
	tm.mu.Lock()
	tm.done++
	tm.versions[st.Version]++
	if st.DidResume {
		tm.resumed++
	}
	tm.mu.Unlock()
	b, err := net.Dial("tcp", backend)
	if err != nil {
		return
	}
	defer b.Close()
	up := make(chan struct{})
	go func() {
		_, _ = io.Copy(b, c) // until close_notify (EOF)
		_ = b.(*net.TCPConn).CloseWrite()
		close(up)
	}()
	_, _ = io.Copy(c, b)
	_ = c.CloseWrite()
	<-up
}

func (tm *terminator) stats() (done, resumed int, versions map[uint16]int) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	v := map[uint16]int{}
	for k, n := range tm.versions {
		v[k] = n
	}
	return tm.done, tm.resumed, v
}

func startRaw(t *testing.T) *rawtcp.Server {
	t.Helper()
	s, err := rawtcp.Listen("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func TestTLSHandshakeFullEveryTime(t *testing.T) {
	raw := startRaw(t)
	for _, tc := range []struct {
		kind, version string
		want          uint16
	}{{tlscert.ECDSAP256, loadgen.TLS13, tls.VersionTLS13}, {tlscert.RSA2048, loadgen.TLS12, tls.VersionTLS12}} {
		t.Run(tc.kind+"-"+tc.version, func(t *testing.T) {
			tm := startTerminator(t, raw.Echo.Addr().String(), tc.kind)
			res := loadgen.RunTLSHandshake(context.Background(), loadgen.TLSHandshake{Addr: tm.ln.Addr().String(), Conns: 2, Version: tc.version,
				Warmup: 10 * time.Millisecond, Duration: 100 * time.Millisecond})
			if res.Err != "" || res.Ops == 0 || res.Latency == nil {
				t.Fatalf("result: %+v", res)
			}
			done, resumed, versions := tm.stats()
			if int64(done) < res.Ops || resumed != 0 || versions[tc.want] != done {
				t.Fatalf("server saw %d handshakes (%d resumed, versions %v); client counted %d", done, resumed, versions, res.Ops)
			}
		})
	}
	if res := loadgen.RunTLSHandshake(context.Background(), loadgen.TLSHandshake{Addr: "127.0.0.1:1", Conns: 1, Version: "1.1", Duration: time.Millisecond}); res.Err == "" {
		t.Fatal("TLS 1.1: no error")
	}
}

func TestTLSStreamCountsDeliveredBytes(t *testing.T) {
	raw := startRaw(t)
	tm := startTerminator(t, raw.Sink.Addr().String(), tlscert.ECDSAP256)
	cfg, err := loadgen.ClientTLS(loadgen.TLS13)
	if err != nil {
		t.Fatal(err)
	}
	res := loadgen.RunStream(context.Background(), loadgen.Stream{Addr: tm.ln.Addr().String(), Streams: 1, BufSize: 64 << 10,
		Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond, TLS: cfg})
	if res.Err != "" || res.Bytes <= 0 || res.Kind != "tls-stream" {
		t.Fatalf("result: %+v", res)
	}
	// The count is the sink's, net of the warm-up: whole writes only if
	// nothing was lost on the way.
	if res.Bytes%(64<<10) != 0 {
		t.Fatalf("%d bytes delivered: not a whole number of 64 KiB writes", res.Bytes)
	}
}

func TestTLSIdleHoldsSessions(t *testing.T) {
	raw := startRaw(t)
	tm := startTerminator(t, raw.Echo.Addr().String(), tlscert.ECDSAP256)
	cfg, err := loadgen.ClientTLS(loadgen.TLS13)
	if err != nil {
		t.Fatal(err)
	}
	ic := loadgen.OpenIdle(loadgen.Idle{Addr: tm.ln.Addr().String(), N: 20, TLS: cfg, Parallel: 4})
	if ic.Res.Err != "" || ic.Res.Ops != 20 {
		t.Fatalf("result: %+v", ic.Res)
	}
	if done, _, _ := tm.stats(); done != 20 {
		t.Fatalf("server saw %d handshakes, want 20", done)
	}
	ic.Close()
	// A failing target: every session fails, none is held.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close() // no TLS here
		}
	}()
	defer ln.Close()
	bad := loadgen.OpenIdle(loadgen.Idle{Addr: ln.Addr().String(), N: 50, TLS: cfg, Parallel: 4})
	if bad.Res.Err == "" || bad.Res.Ops != 0 {
		t.Fatalf("plain server: %+v", bad.Res)
	}
	bad.Close()
}
