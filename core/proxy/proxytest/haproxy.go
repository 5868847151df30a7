package proxytest

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/peers"
	"github.com/netmodels/netmodels/core/proxy/proxyproto"
)

// HAProxy interop (issue 4 acceptance, first item): real haproxy in front
// of our accept-proxy bind, and our send-proxy in front of haproxy's
// accept-proxy bind. In both chains the last backend reads a PROXY header
// and must see the client's own address.

// freePort returns a loopback port that was free a moment ago (haproxy
// cannot report the port it bound, so it gets a fixed one), below the
// ephemeral range (peers.PickPort).
func freePort(t *testing.T) int {
	t.Helper()
	p, err := peers.PickPort(net.Listen, Host)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startHAProxy runs haproxy with cfg (core/peers: stopped by PID at the
// end of the test, which fails if haproxy died on its own). It returns
// once haproxy listens on port, read from the kernel's socket table, so
// no readiness probe reaches the backends.
func startHAProxy(t *testing.T, cfg string, port int) {
	t.Helper()
	peers.StartHAProxyT(t, cfg, peers.HAProxyOptions{WaitAddrs: []string{net.JoinHostPort(Host, fmt.Sprint(port))}, ReadyTimeout: 10 * time.Second})
}

// headerSink is a backend that reads one PROXY header per connection and
// reports it.
func headerSink(t *testing.T) (*Server, <-chan proxyproto.Header) {
	ch := make(chan proxyproto.Header, 16)
	srv := StartServer(t, func(c *net.TCPConn) {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var buf []byte
		tmp := make([]byte, 512)
		for {
			n, err := c.Read(tmp)
			buf = append(buf, tmp[:n]...)
			if h, _, derr := proxyproto.Decode(buf); derr == nil {
				select {
				case ch <- h:
				default:
				}
				_, _ = c.Write([]byte("ok"))
				return
			} else if derr != proxyproto.ErrNeedMore || err != nil || len(buf) > 4096 {
				return
			}
		}
	})
	return srv, ch
}

// expectClient dials addr, then waits for a header whose source is this
// client's own address (a header from another source, were there one, is
// logged and skipped).
func expectClient(t *testing.T, addr string, headers <-chan proxyproto.Header) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("x"))
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	remote := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case h := <-headers:
			src := netip.AddrPortFrom(h.Source.Addr().Unmap(), h.Source.Port())
			dst := netip.AddrPortFrom(h.Destination.Addr().Unmap(), h.Destination.Port())
			if src != local {
				t.Logf("ignoring header from %s (not this client)", src)
				continue
			}
			if dst != remote {
				t.Errorf("header destination %s, want %s", dst, remote)
			}
			return
		case <-timeout:
			t.Fatalf("no PROXY header naming client %s reached the backend", local)
		}
	}
}

func haproxyCfg(port int, acceptProxy bool, server string, send string) string {
	ap := ""
	if acceptProxy {
		ap = " accept-proxy"
	}
	return fmt.Sprintf(`global
    maxconn 100
defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
listen l
    bind %s:%d%s
    server s1 %s %s
`, Host, port, ap, server, send)
}

// RunHAProxyInterop runs both interop chains for send-proxy and
// send-proxy-v2. It skips when haproxy is not installed.
func RunHAProxyInterop(t *testing.T, newEngine Factory) {
	for _, send := range []string{"send-proxy", "send-proxy-v2"} {
		t.Run("haproxy-"+send+"-to-us", func(t *testing.T) {
			sink, headers := headerSink(t)
			// Our proxy: accept-proxy bind, passes the address on with v1.
			_, ours := StartProxy(t, newEngine, fmt.Sprintf(`defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
listen l
    bind 127.0.0.1:0 accept-proxy
    server s1 %s send-proxy
`, sink.Addr()))
			port := freePort(t)
			startHAProxy(t, haproxyCfg(port, false, ours[0], send), port)
			expectClient(t, net.JoinHostPort(Host, fmt.Sprint(port)), headers)
		})
		t.Run("us-"+send+"-to-haproxy", func(t *testing.T) {
			sink, headers := headerSink(t)
			port := freePort(t)
			startHAProxy(t, haproxyCfg(port, true, sink.Addr(), "send-proxy-v2"), port)
			_, ours := StartProxy(t, newEngine, fmt.Sprintf(`defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
listen l
    bind 127.0.0.1:0
    server s1 %s:%d %s
`, Host, port, send))
			expectClient(t, ours[0], headers)
		})
	}
}
