package proxytest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// testServerFirst: the server sends and shuts its write side first; the
// client still gets every byte then EOF, and can still send its request,
// which the server reads to EOF.
func testServerFirst(t *testing.T, newEngine Factory) {
	banner := bytes.Repeat([]byte("banner "), 50_000)
	got := make(chan []byte, 1)
	srv := StartServer(t, func(c *net.TCPConn) {
		_, _ = c.Write(banner)
		_ = c.CloseWrite()
		b, err := io.ReadAll(c)
		if err != nil {
			t.Logf("server read: %v", err)
		}
		got <- b
	})
	_, addrs := StartProxy(t, newEngine, relayCfg("127.0.0.1:0", srv.Addr(), false))
	c, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(b, banner) {
		t.Fatalf("client read %d bytes (%v), want %d then EOF", len(b), err, len(banner))
	}
	req := bytes.Repeat([]byte("req "), 40_000)
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	select {
	case b := <-got:
		if !bytes.Equal(b, req) {
			t.Fatalf("server read %d bytes, want %d", len(b), len(req))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server never saw the request and EOF")
	}
}

// testUnreachable: a refused backend; the client is closed after the
// retries and every failed connect is counted.
func testUnreachable(t *testing.T, newEngine Factory) {
	ln, err := net.Listen("tcp", net.JoinHostPort(Host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now: connects are refused
	p, addrs := StartProxy(t, newEngine, `defaults
    mode tcp
    timeout connect 100ms
    timeout client 10s
    timeout server 10s
listen l
    bind 127.0.0.1:0
    retries 2
    server s1 `+dead+`
`)
	c, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	b, err := io.ReadAll(c)
	if len(b) != 0 || (err != nil && !isReset(err)) {
		t.Fatalf("client read %q, %v", b, err)
	}
	// Three attempts with a 100 ms turn-around between them.
	if d := time.Since(start); d < 150*time.Millisecond || d > 5*time.Second {
		t.Errorf("client closed after %v", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _ := p.BackendStats("l")
		if st.Econ == 3 && st.Wretr == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend stats %+v, want econ 3, wretr 2", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// isReset: the proxy may close with a reset rather than a FIN.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET)
}
