package suite

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/conformance/internal/harness"
	"github.com/netmodels/netmodels/conformance/internal/pp"
)

// backend is a Go TCP server standing in for a proxied service. Each
// accepted connection is handed to handle; accepted counts them.
type backend struct {
	ln       net.Listener
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

func newBackend(t *harness.T, handle func(c net.Conn)) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(harness.HostIP(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	return serveBackend(t, ln, handle)
}

// serveBackend is newBackend on a listener the case made (the network
// cases listen in a netsim namespace).
func serveBackend(t *harness.T, ln net.Listener, handle func(c net.Conn)) *backend {
	t.Helper()
	b := &backend{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			go handle(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
	})
	return b
}

func (b *backend) addr() string { return b.ln.Addr().String() }

// echo copies everything back and half-closes after the client's EOF.
func echo(c net.Conn) {
	_, _ = io.Copy(c, c)
	_ = c.(*net.TCPConn).CloseWrite()
}

// tagged answers each connection with its name first, then echoes: the
// balancing cases learn which server they reached.
func tagged(name string) func(net.Conn) {
	return func(c net.Conn) {
		_, _ = c.Write([]byte(name + "\n"))
		echo(c)
	}
}

// ppResult is what a PROXY-header-decoding backend saw on one connection.
type ppResult struct {
	H       pp.Header
	Err     error
	Payload []byte // up to the first newline after the header
}

// ppBackend decodes the PROXY header a send-proxy(-v2) server line wrote,
// with the suite's own decoder, reads one line of payload, then echoes.
func ppBackend(t *harness.T) (*backend, chan ppResult) {
	ch := make(chan ppResult, 64)
	b := newBackend(t, func(c net.Conn) {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var buf []byte
		tmp := make([]byte, 4096)
		var r ppResult
		for {
			h, err := pp.Decode(buf)
			if err == nil {
				r.H = h
				buf = buf[h.Len:]
				break
			}
			if !errors.Is(err, pp.ErrShort) {
				r.Err = err
				ch <- r
				c.Close()
				return
			}
			n, rerr := c.Read(tmp)
			buf = append(buf, tmp[:n]...)
			if rerr != nil {
				r.Err = rerr
				ch <- r
				c.Close()
				return
			}
		}
		br := bufio.NewReader(io.MultiReader(strings.NewReader(string(buf)), c))
		line, _ := br.ReadBytes('\n')
		r.Payload = line
		ch <- r
		_, _ = c.Write(line)
		_, _ = io.Copy(c, br)
		_ = c.(*net.TCPConn).CloseWrite()
	})
	return b, ch
}

// vector reads a captured PROXY header. The repository keeps a
// byte-identical copy of shared/vectors/proxy beside the codec's tests
// (core/proxy/proxyproto/testdata); only the bytes are shared, not code.
func vector(t *harness.T, name string) []byte {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "core", "proxy", "proxyproto", "testdata", name))
	if err != nil {
		t.Fatalf("vector %s: %v", name, err)
	}
	return b
}
