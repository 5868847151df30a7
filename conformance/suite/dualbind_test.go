package suite

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/netmodels/netmodels/conformance/internal/harness"
)

// dualBindCases run one msgr-server listening on msgr1 and msgr2 at once.
var dualBindCases = []harness.Case{
	mc("msgr-dual-bind", "spec/cli.md msgr-server --listen (once per protocol); spec/messenger.md Listening on both protocols",
		"msgr-server --listen v1:HOST:0 --listen v2:HOST:0: READY lists HOST:PORT then v2:IP:PORT/NONCE (one nonce), the msgr1 banner announces the v1 port, and this engine's msgr-client with --protocol v1 and with --protocol v2, at once, each get every echo from the one server (default, lossless policies) (/metrics: one server accepted them all)",
		func(t *harness.T, e harness.Engine) {
			host := harness.ListenHost(e)
			p := harness.Start(t, e, "msgr-server", "--listen", "v1:"+net.JoinHostPort(host, "0"),
				"--listen", "v2:"+net.JoinHostPort(host, "0"), "--metrics", "127.0.0.1:0")
			if len(p.Addrs) != 3 {
				t.Fatalf("READY %v: want the v1 address, the v2 address and the metrics address", p.Addrs)
			}
			v1, v2 := p.Addr(0), p.Addr(1)
			_, v1port, err := net.SplitHostPort(v1)
			if err != nil || strings.HasPrefix(v1, "v") {
				t.Fatalf("READY %v: first address %q, want HOST:PORT", p.Addrs, v1)
			}
			hp, nonce, ok := strings.Cut(strings.TrimPrefix(v2, "v2:"), "/")
			if !strings.HasPrefix(v2, "v2:") || !ok {
				t.Fatalf("READY %v: second address %q, want v2:IP:PORT/NONCE", p.Addrs, v2)
			}
			if _, v2port, _ := net.SplitHostPort(hp); v2port == v1port {
				t.Fatalf("READY %v: one port for both protocols", p.Addrs)
			}
			// The msgr1 banner announces the v1 listener (not the v2 one)
			// with the nonce the v2 address carries: one entity, two
			// addresses.
			srv, _, err := rawDial(t, p).ReadServerHello()
			if err != nil {
				t.Fatal(err)
			}
			if strconv.Itoa(int(srv.Port)) != v1port || strconv.FormatUint(uint64(srv.Nonce), 10) != nonce {
				t.Fatalf("msgr1 banner announces port %d nonce %d, want %s and %s", srv.Port, srv.Nonce, v1port, nonce)
			}
			common := []string{"--conns", "2", "--depth", "4", "--size", "0-8000", "--count", "400"}
			c1 := runClient(t, e, v1, append([]string{"--protocol", "v1"}, common...)...)
			c2 := runClient(t, e, v2, append([]string{"--protocol", "v2"}, common...)...)
			checkClientRun(t, c1.wait(t, 60*time.Second), 400)
			checkClientRun(t, c2.wait(t, 60*time.Second), 400)
			ms, err := scrape(p.Addr(2))
			if err != nil {
				t.Fatal(err)
			}
			// 2 sessions per client plus the raw banner probe.
			if got := ms["msgr_accepted_connections_total"]; got != 5 {
				t.Errorf("msgr_accepted_connections_total %v, want 5 (the banner probe, 2 v1 and 2 v2 sessions) in one server", got)
			}
			if got := ms["msgr_recv_messages_total"]; got < 800 {
				t.Errorf("msgr_recv_messages_total %v, want the 800 ECHOs of both clients", got)
			}
		}),
}
