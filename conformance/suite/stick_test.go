package suite

import (
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/netmodels/netmodels/conformance/internal/harness"
)

// Stick tables (issue 16 item 3; spec/proxy.md §10).
func init() { proxyCases = append(proxyCases, stickCases...) }

var stickCases = []harness.Case{
	pc("proxy-stick-conn-rate", "spec/proxy.md §10 (stick-table store conn_rate(10s), track-sc0 src, sc_conn_rate(0); HAProxy freq_ctr)",
		"stick-table type ip size 100k expire 30s store conn_rate(10s), track-sc0 src, reject if { sc_conn_rate(0) gt 20 }: 20 connections from "+harness.HostIP2()+" are relayed, the 21st within the period is closed with nothing relayed, and "+harness.HostIP()+" is still relayed",
		func(t *harness.T, e harness.Engine) {
			be := newBackend(t, echo)
			p := startProxy(t, e, simpleCfg("",
				"    stick-table type ip size 100k expire 30s store conn_rate(10s)\n"+
					"    tcp-request connection track-sc0 src\n"+
					"    tcp-request connection reject if { sc_conn_rate(0) gt 20 }\n", "", be.addr()))
			for i := 0; i < 20; i++ {
				through(t, p.Addr(0), harness.HostIP2())
			}
			// The 21st is closed unserved; HAProxy resets it so fast that
			// connect itself may report the reset.
			if c := dialOrReset(t, p.Addr(0), harness.HostIP2()); c != nil {
				_, _ = c.Write([]byte("x"))
				if seen, err := expectEOF(c, closeWithin); err != nil || len(seen) > 0 {
					t.Fatalf("21st connection from %s: %v, got %q", harness.HostIP2(), err, seen)
				}
			}
			through(t, p.Addr(0), harness.HostIP())
			if n := be.accepted.Load(); n != 21 {
				t.Errorf("backend saw %d connections, want 21 (20 + the other source)", n)
			}
		}),
	pc("proxy-stick-silent-drop", "spec/proxy.md §10 (tcp-request connection silent-drop: no orderly close; spec/engine.md §4 Aborter)",
		"tcp-request connection silent-drop if { src "+harness.HostIP2()+" }: that client gets no FIN (a reset, or silence where the socket is made to vanish) and the backend is untouched; "+harness.HostIP()+" is relayed",
		func(t *harness.T, e harness.Engine) {
			be := newBackend(t, echo)
			p := startProxy(t, e, simpleCfg("", "    tcp-request connection silent-drop if { src "+harness.HostIP2()+" }\n", "", be.addr()))
			// A reset may already reach connect: no FIN either.
			if c := dialOrReset(t, p.Addr(0), harness.HostIP2()); c != nil {
				droppedNotTold(t, c)
			}
			through(t, p.Addr(0), harness.HostIP())
			if n := be.accepted.Load(); n != 1 {
				t.Errorf("backend saw %d connections, want 1", n)
			}
		}),
	pc("proxy-stick-on-src", "spec/proxy.md §10 (stick on src: persistence by server_id/server_key)",
		"balance roundrobin over two servers with stick-table type ip + stick on src: five connections from one source all reach the same server (round robin alone alternates)",
		func(t *harness.T, e harness.Engine) {
			s1, s2 := newBackend(t, tagged("s1")), newBackend(t, tagged("s2"))
			p := startProxy(t, e, simpleCfg("", "", "    balance roundrobin\n    stick-table type ip size 100 expire 30m\n    stick on src\n", s1.addr(), s2.addr()))
			first := ""
			for i := 0; i < 5; i++ {
				name, c := whichServer(t, p.Addr(0), harness.HostIP2())
				c.Close()
				if first == "" {
					first = name
				} else if name != first {
					t.Fatalf("connection %d reached %s, the first reached %s", i+1, name, first)
				}
			}
		}),
}

// droppedNotTold fails unless the client c was reset or told nothing: no
// bytes and no orderly close.
func droppedNotTold(t *harness.T, c net.Conn) {
	t.Helper()
	// A reset that arrives before this write is reported by the write,
	// which consumes the socket's error: a read after it would return 0,
	// an EOF that is not an orderly close.
	if _, err := c.Write([]byte("x")); errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(closeWithin))
	n, err := c.Read(make([]byte, 16))
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.As(err, &ne) && ne.Timeout():
		// A reset, or nothing at all: the client was not told.
	case err != nil:
		t.Fatalf("dropped client: read %d bytes, %v (an orderly close, want a reset)", n, err)
	default:
		t.Fatalf("dropped client read %d bytes", n)
	}
}

// dialOrReset connects from src; nil when the proxy reset the connection
// so fast that connect itself reported it (a rejected client).
func dialOrReset(t *harness.T, addr, src string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if errors.Is(err, syscall.ECONNRESET) {
		return nil
	}
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
