package suite

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/conformance/internal/harness"
)

// v2Plans says, for the messenger cases that are not raw msgr1, whether
// they run over msgr2 too (the matrix's v2 column group, harness/v2.go).
// Every other msgr case drives the engine with raw msgr1 bytes from
// internal/msgr1 and is declared harness.V2V1Wire (withV2Plans); an
// interop case not listed here is not a messenger case (haproxy chains).
var v2Plans = map[string]harness.V2Plan{
	// The engine's own client against its own server (or another
	// engine's): the same case with both on msgr2, lossy policies.
	"msgr-client-json":     {Mode: harness.V2Runs},
	"msgr-client-rate":     {Mode: harness.V2Runs},
	"msgr-client-duration": {Mode: harness.V2Runs},
	"interop-msgr-pairs":   {Mode: harness.V2Runs},
	// Cheap v2 twins of raw msgr1 cases: the engine's own msgr-client
	// takes the raw session's place.
	"msgr-metrics":       {Mode: harness.V2Runs, Reason: "this engine's msgr-client sends the 5 ECHOs"},
	"msgr-workers":       {Mode: harness.V2Runs, Reason: "this engine's msgr-client opens the 12 sessions"},
	"msgr-sigterm-exit0": {Mode: harness.V2Runs, Reason: "this engine's msgr-client keeps echoes in flight"},
	"msgr-listen-in-use": {Mode: harness.V2Runs},
	"msgr-accept-ipv6":   {Mode: harness.V2Runs, Reason: "READY v2:[::1]:PORT/NONCE, and this engine's msgr-client echoes over it"},
	"msgr-garbage":       {Mode: harness.V2Runs, Reason: "random bytes instead of the msgr2 banner, after it, or after a HELLO-sized prefix; this engine's msgr-client then echoes"},
	"msgr-bad-flags":     {Mode: harness.V2Runs, Reason: "the msgr2 usage errors of spec/cli.md --protocol"},
	// A real ceph-mon on its v2 port (ms_bind_msgr2).
	"interop-client-ceph-mon": {Mode: harness.V2Runs, Reason: "dialled at the mon's v2 port, v2:IP:PORT/0; auth none, AUTH_MODE_MON: the mon assigns the global_id"},
	// Lossless sessions: the default policies, and ceph-mon's mon↔mon
	// peering, are lossless.
	"msgr-inject-100k":                  {Mode: harness.V2Lossless},
	"msgr-inject-failures":              {Mode: harness.V2Lossless},
	"interop-ceph-mon-peer":             {Mode: harness.V2Lossless},
	"interop-ceph-mon-peer-restart":     {Mode: harness.V2Lossless},
	"interop-ceph-mon-peer-mon-restart": {Mode: harness.V2Lossless},
	"interop-ceph-mon-peer-soak":        {Mode: harness.V2Lossless},
	"msgr-dual-bind":                    {Mode: harness.V2Both},
	"msgr-client-sigterm-accounting":    {Mode: harness.V2Lossless},
	"msgr-version":                      {Mode: harness.V2NoWire},
	"cli-clean-exit-all":                {Mode: harness.V2NoWire},
	// librados against the fake OSD at both of a dual-bound ceph-osd's
	// addresses; it dials the v2 one.
	"interop-rados-bench": {Mode: harness.V2Runs, Reason: "a second mon and OSD bound to msgr1 and msgr2 (ms_bind_msgr2), so the OSD map lists [v2:…,v1:…]; the fake OSD listens at both with the OSD's nonce; librados dials the v2 entry (a messenger that binds nothing takes the first entry it speaks), which its debug_ms log shows"},
}

// interopNotMsgr are the interop cases with no messenger in them.
var interopNotMsgr = map[string]bool{"interop-haproxy-front": true, "interop-haproxy-behind": true}

// withV2Plans sets every messenger case's plan and appends the msgr2
// variants.
func withV2Plans(cs []harness.Case) []harness.Case {
	for i := range cs {
		c := &cs[i]
		if p, ok := v2Plans[c.ID]; ok {
			c.V2 = p
		} else if c.Kind == harness.KindMsgr {
			c.V2 = harness.V2Plan{Mode: harness.V2V1Wire}
		}
	}
	return append(cs, harness.V2Variants(cs)...)
}

// TestV2Plans keeps v2Plans honest: every name is a case, and every
// interop case is either planned or known to have no messenger.
func TestV2Plans(t *testing.T) {
	ids := map[string]harness.Case{}
	for _, c := range allCases() {
		ids[c.ID] = c
	}
	for id := range v2Plans {
		if _, ok := ids[id]; !ok {
			t.Errorf("v2Plans names %s, which is no case", id)
		}
	}
	for id, c := range ids {
		if c.Kind == harness.KindInterop && c.Protocol == "" && c.V2.Mode == harness.V2None && !interopNotMsgr[id] {
			t.Errorf("interop case %s has no msgr2 plan (v2Plans) and is not listed as messenger-free", id)
		}
	}
}

// srvArgs are the flags a case's msgr-server takes for its protocol:
// none over msgr1; --protocol v2 and, in a lossy variant, the lossy
// server policy (unless the case picks its own).
func srvArgs(t *harness.T, args ...string) []string {
	if !t.V2() {
		return args
	}
	out := []string{"--protocol", "v2"}
	if t.V2Lossy() && !hasFlag(args, "--policy") {
		out = append(out, "--policy", "stateless_server")
	}
	return append(out, args...)
}

// clientArgs is `msgr-client --connect addr args...`; in a lossy msgr2
// variant the client takes lossy_client (the server's READY address,
// v2:IP:PORT/NONCE, selects the protocol).
func clientArgs(t *harness.T, addr string, args ...string) []string {
	out := []string{"msgr-client", "--connect", addr}
	if t.V2Lossy() && !hasFlag(args, "--policy") {
		out = append(out, "--policy", "lossy_client")
	}
	return append(out, args...)
}

func hasFlag(args []string, f string) bool {
	for _, a := range args {
		if a == f {
			return true
		}
	}
	return false
}

// v2Table is an interop table's name for the case's protocol: the msgr2
// variants fill tables of their own.
func v2Table(t *harness.T, table string) string {
	if t.V2() {
		return fmt.Sprintf("%s, over msgr2", table)
	}
	return table
}

// sigtermV2 is msgr-sigterm-exit0@v2: SIGTERM while this engine's own
// msgr-client keeps 8 ECHOs of 8 KiB in flight over msgr2; the server
// exits 0 within 5 s (the client, lossy, then fails and is killed).
func sigtermV2(t *harness.T, e harness.Engine) {
	p := startServer(t, e, srvArgs(t, "--metrics", "127.0.0.1:0")...)
	runClient(t, e, p.Addr(0), "--policy", "lossy_client", "--duration", "30s", "--depth", "8", "--size", "8192")
	// The engine's state, observed: messages are flowing.
	if !waitFor(10*time.Second, func() bool { return recvMessages(p.Addr(1)) > 0 }) {
		t.Fatalf("no message received over msgr2 in 10 s; server stderr: %s", p.StderrTail())
	}
	start := time.Now()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
}

// acceptIPv6V2 is msgr-accept-ipv6@v2: a v2 server on [::1] prints its
// msgr2 address with the IPv6 host in brackets, and a client echoes over it.
func acceptIPv6V2(t *harness.T, e harness.Engine) {
	p := harness.Start(t, e, append([]string{"msgr-server", "--listen", "[::1]:0"}, srvArgs(t)...)...)
	if !strings.HasPrefix(p.Addr(0), "v2:[::1]:") || !strings.Contains(p.Addr(0), "/") {
		t.Fatalf("READY %v, want v2:[::1]:PORT/NONCE", p.Addrs)
	}
	checkClientRun(t, harness.Run(e, 30*time.Second, clientArgs(t, p.Addr(0), "--count", "3", "--depth", "1", "--size", "2")...), 3)
}

// msgr2Banner is a client's msgr2 banner (spec/messenger.md, msgr2.1
// wire: "ceph v2\n", le16 16, le64 supported = REVISION_1, le64 required
// = 0), written out here: the suite imports none of core's codecs.
func msgr2Banner() []byte {
	b := []byte("ceph v2\n")
	b = binary.LittleEndian.AppendUint16(b, 16)
	b = binary.LittleEndian.AppendUint64(b, 1)
	return binary.LittleEndian.AppendUint64(b, 0)
}

// garbageV2 is msgr-garbage@v2: 45 connections send random bytes instead
// of the banner, right after a valid banner, or after a valid banner and
// a preamble's worth of junk (a frame whose crc cannot match), and hang
// up; the server survives and a new session echoes.
func garbageV2(t *harness.T, e harness.Engine) {
	p := startServer(t, e, srvArgs(t)...)
	hostport := strings.TrimPrefix(p.Addr(0), "v2:")
	if i := strings.LastIndexByte(hostport, '/'); i >= 0 {
		hostport = hostport[:i]
	}
	for i := range 45 {
		c, err := net.DialTimeout("tcp", hostport, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v", hostport, err)
		}
		var out []byte
		if i%3 != 0 {
			out = msgr2Banner()
		}
		junk := randBytes(1 + rand.IntN(4096))
		if i%3 == 2 {
			junk = append(randBytes(32), junk...)
		}
		_, _ = c.Write(append(out, junk...))
		c.Close()
	}
	if p.Exited() {
		t.Fatalf("server process exited; stderr: %s", p.StderrTail())
	}
	checkClientRun(t, harness.Run(e, 30*time.Second, clientArgs(t, p.Addr(0), "--count", "5", "--depth", "1", "--size", "100")...), 5)
}
