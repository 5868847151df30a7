package proxyproto

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// capture is what decoded.txt says about one captured header.
type capture struct {
	name    string
	n       int // header bytes
	version int
	command Command
	tr      Transport
	src     netip.AddrPort
	dst     netip.AddrPort
	tlvs    []capturedTLV
}

type capturedTLV struct {
	off   int
	typ   uint8
	n     int
	value string // quoted text value, or "" when the line gave a number
	num   uint32 // CRC32C value
	ssl   string // "client=0x07 ..." for the SSL TLV
}

var (
	reSection  = regexp.MustCompile(`^## (\S+)$`)
	reCaptured = regexp.MustCompile(`^captured \S+\.bin: (\d+) header bytes`)
	reV1       = regexp.MustCompile(`^  protocol=(TCP[46]) src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)$`)
	reV1Fields = regexp.MustCompile(`^  fields=\["UNKNOWN"\]$`)
	reByte13   = regexp.MustCompile(`^  version 2: signature ok; byte 13 = 0x([0-9a-f]{2})`)
	reByte14   = regexp.MustCompile(`^  byte 14 = 0x([0-9a-f]{2}) .*; length = (\d+)`)
	reV2Addr   = regexp.MustCompile(`^  src=(\S+) dst=(\S+) \(address block`)
	reTLV      = regexp.MustCompile(`^  TLV @(\d+) type 0x([0-9a-f]{2}) \S+ len (\d+): (.*)$`)
)

// parseDecoded reads testdata/decoded.txt, the decode of every capture
// written by the vector generator (not by this package).
func parseDecoded(t *testing.T) []capture {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "decoded.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []capture
	var c *capture
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := reSection.FindStringSubmatch(line); m != nil {
			out = append(out, capture{name: m[1]})
			c = &out[len(out)-1]
			continue
		}
		if c == nil {
			continue
		}
		switch {
		case reCaptured.MatchString(line):
			c.n, _ = strconv.Atoi(reCaptured.FindStringSubmatch(line)[1])
		case reV1.MatchString(line):
			m := reV1.FindStringSubmatch(line)
			c.version, c.command = 1, CmdProxy
			c.tr = map[string]Transport{"TCP4": TCP4, "TCP6": TCP6}[m[1]]
			c.src = netip.MustParseAddrPort(joinHostPort(m[2], m[4]))
			c.dst = netip.MustParseAddrPort(joinHostPort(m[3], m[5]))
		case reV1Fields.MatchString(line):
			c.version, c.command, c.tr = 1, CmdLocal, TransportUnspec
		case reByte13.MatchString(line):
			v, _ := strconv.ParseUint(reByte13.FindStringSubmatch(line)[1], 16, 8)
			c.version, c.command = 2, Command(v&0xF)
		case reByte14.MatchString(line):
			v, _ := strconv.ParseUint(reByte14.FindStringSubmatch(line)[1], 16, 8)
			c.tr = Transport(v)
		case reV2Addr.MatchString(line):
			m := reV2Addr.FindStringSubmatch(line)
			c.src, c.dst = netip.MustParseAddrPort(m[1]), netip.MustParseAddrPort(m[2])
		case reTLV.MatchString(line):
			m := reTLV.FindStringSubmatch(line)
			var tl capturedTLV
			tl.off, _ = strconv.Atoi(m[1])
			typ, _ := strconv.ParseUint(m[2], 16, 8)
			tl.typ = uint8(typ)
			tl.n, _ = strconv.Atoi(m[3])
			switch rest := m[4]; {
			case strings.HasPrefix(rest, `"`):
				q, err := strconv.QuotedPrefix(rest)
				if err != nil {
					t.Fatalf("decoded.txt: %q: %v", line, err)
				}
				tl.value, _ = strconv.Unquote(q)
			case strings.HasPrefix(rest, "0x"):
				v, _ := strconv.ParseUint(rest[2:10], 16, 32)
				tl.num = uint32(v)
			default:
				tl.ssl = rest
			}
			c.tlvs = append(c.tlvs, tl)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// TestCapturedVectors: every HAProxy 2.6 capture decodes to exactly what
// decoded.txt (written by the independent generator) says, using exactly
// the captured bytes, and with the client payload that followed it left
// alone.
func TestCapturedVectors(t *testing.T) {
	caps := parseDecoded(t)
	if len(caps) != 17 {
		t.Fatalf("decoded.txt: %d sections, want 17", len(caps))
	}
	for _, c := range caps {
		t.Run(c.name, func(t *testing.T) {
			b := readVector(t, c.name)
			if len(b) != c.n {
				t.Fatalf("file has %d bytes, decoded.txt says %d", len(b), c.n)
			}
			withPayload := append(append([]byte(nil), b...), "HELLO\n"...)
			for _, d := range []Decoder{{}, {Compat: CompatHAProxy26}} {
				h, n, err := d.Decode(withPayload)
				if err != nil {
					t.Fatalf("compat %d: %v", d.Compat, err)
				}
				if n != c.n {
					t.Errorf("used %d bytes, want %d", n, c.n)
				}
				if h.Version != c.version || h.Command != c.command {
					t.Errorf("got %s, want v%d %s", h, c.version, c.command)
				}
				if c.command == CmdProxy {
					src, dst, ok := h.Addresses()
					if !ok || h.Transport != c.tr || src != c.src || dst != c.dst {
						t.Errorf("got %s, want %s %s -> %s", h, c.tr, c.src, c.dst)
					}
				} else if _, _, ok := h.Addresses(); ok {
					t.Errorf("%s: LOCAL/UNKNOWN must not offer addresses", h)
				}
				if len(h.TLVs) != len(c.tlvs) {
					t.Fatalf("got %d TLVs, decoded.txt lists %d", len(h.TLVs), len(c.tlvs))
				}
				for i, want := range c.tlvs {
					got := h.TLVs[i]
					if got.Type != want.typ || len(got.Value) != want.n {
						t.Errorf("TLV %d: type 0x%02x len %d, want 0x%02x len %d", i, got.Type, len(got.Value), want.typ, want.n)
						continue
					}
					// The TLV's offset, recovered from the header bytes.
					if o := tlvOffset(b, h, i); o != want.off {
						t.Errorf("TLV %d at @%d, want @%d", i, o, want.off)
					}
					switch {
					case want.typ == TypeCRC32C:
						if v := binary.BigEndian.Uint32(got.Value); v != want.num {
							t.Errorf("CRC32C 0x%08x, want 0x%08x", v, want.num)
						}
					case want.typ == TypeSSL:
						if s := fmt.Sprintf("client=0x%02x", got.Value[0]); !strings.HasPrefix(want.ssl, s) {
							t.Errorf("SSL %s, decoded.txt %q", s, want.ssl)
						}
					default:
						if string(got.Value) != want.value {
							t.Errorf("TLV 0x%02x = %q, want %q", got.Type, got.Value, want.value)
						}
					}
				}
			}
		})
	}
}

// tlvOffset is where TLV i of h starts in b, found by walking b.
func tlvOffset(b []byte, h Header, i int) int {
	p := v2FixedLen
	n, _ := Transport(b[13]).addrLen()
	p += n
	for j := 0; j < i; j++ {
		p += 3 + int(binary.BigEndian.Uint16(b[p+1:p+3]))
	}
	return p
}

// TestCapturedReencode: re-encoding each decoded capture gives back
// HAProxy's exact bytes, so our sender writes what HAProxy 2.6 writes
// (v1 text forms, v2 layout, TLV order, CRC32C).
func TestCapturedReencode(t *testing.T) {
	for _, name := range vectorNames(t, "") {
		t.Run(name, func(t *testing.T) {
			b := readVector(t, name)
			h, _, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			var out []byte
			if h.Version == 1 {
				out, err = h.AppendV1(nil)
				if n := h.LenV1(); n != len(out) {
					t.Errorf("LenV1 %d, wrote %d", n, len(out))
				}
			} else {
				out, err = h.AppendV2(nil)
				if n := h.LenV2(); n != len(out) {
					t.Errorf("LenV2 %d, wrote %d", n, len(out))
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != string(b) {
				t.Errorf("re-encoded\n%q\nwant\n%q", out, b)
			}
		})
	}
}

// TestCraftedSpec judges each crafted input as a whole connection's input
// with the spec's rules: every ok-* is accepted and every bad-* rejected
// (the file names state the spec's verdict; shared/vectors/proxy/README §3).
func TestCraftedSpec(t *testing.T) {
	wantKind := map[string]Kind{
		"bad-empty":           KindClosed,
		"bad-http":            KindNotProxy,
		"bad-v1-lowercase":    KindNotProxy,
		"bad-v1-double-space": KindUnhandledProtocol,
		"bad-v1-udp4":         KindUnhandledProtocol,
		"bad-v1-bad-ipv4":     KindInvalid,
		"bad-v1-family-mix":   KindInvalid,
		"bad-v1-leading-zero": KindInvalid,
		"bad-v1-lf-only":      KindInvalid,
		"bad-v1-missing-port": KindInvalid,
		"bad-v1-no-crlf":      KindInvalid,
		"bad-v1-port-65536":   KindInvalid,
		"bad-v2-version-1":    KindNotProxy,
		"bad-v2-command-2":    KindInvalid,
		"bad-v2-family-4":     KindInvalid,
		"bad-v2-len-short":    KindInvalid,
		"bad-v2-tlv-overflow": KindInvalid,
		"bad-v2-crc32c-wrong": KindInvalid,
		"bad-v2-truncated":    KindTruncated,
	}
	for _, name := range vectorNames(t, "crafted") {
		base := strings.TrimPrefix(name, "crafted/")
		t.Run(base, func(t *testing.T) {
			b := readVector(t, name)
			h, n, err := decodeAll(Decoder{}, b, false)
			if strings.HasPrefix(base, "ok-") {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if n != len(b) {
					t.Errorf("used %d of %d bytes", n, len(b))
				}
				t.Logf("%s", h)
				return
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("accepted as %s (err %v), want rejection", h, err)
			}
			want, ok := wantKind[base]
			if !ok {
				t.Fatalf("no expected kind for %s", base)
			}
			if pe.Kind != want {
				t.Errorf("kind %s (%v), want %s", pe.Kind, pe, want)
			}
		})
	}
}

// probeResult is one section of accept-proxy-results.txt: what HAProxy
// 2.6 did with one crafted input sent to "bind ... accept-proxy".
type probeResult struct {
	name, args string
	accepted   bool
	reason     string // log reason for a rejection
	logSrc     string // accepted: "ip:port" HAProxy used as the source
	logDst     string
	authority  string
	uniqueID   string
}

var (
	reProbe  = regexp.MustCompile(`^## (\S+)\s+\((\d+) bytes\) probe args: (.*)$`)
	reLog    = regexp.MustCompile(`^haproxy: LOG (\S+) -> (\S+) rcvd_proxy=1 authority=(\S+) unique_id=(\S+)`)
	reReject = regexp.MustCompile(`^haproxy: \S+ \[[^\]]+\] acc/1: (.*)$`)
)

func parseAcceptResults(t *testing.T) []probeResult {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "accept-proxy-results.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []probeResult
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := reProbe.FindStringSubmatch(line); m != nil {
			out = append(out, probeResult{name: m[1], args: strings.TrimSpace(m[3])})
			continue
		}
		if len(out) == 0 {
			continue
		}
		r := &out[len(out)-1]
		switch {
		case strings.HasPrefix(line, "outcome="):
			r.accepted = strings.Contains(line, `reply="BACKEND header`)
		case reLog.MatchString(line):
			m := reLog.FindStringSubmatch(line)
			r.logSrc, r.logDst, r.authority, r.uniqueID = m[1], m[2], m[3], m[4]
		case reReject.MatchString(line):
			r.reason = reReject.FindStringSubmatch(line)[1]
		}
	}
	return out
}

// splitLogAddr splits HAProxy's "%ci:%cp" (IPv6 without brackets).
func splitLogAddr(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	i := strings.LastIndexByte(s, ':')
	ap, err := netip.ParseAddrPort(joinHostPort(s[:i], s[i+1:]))
	if err != nil {
		t.Fatalf("log address %q: %v", s, err)
	}
	return ap
}

// TestCraftedHAProxy26 replays every probe of accept-proxy-results.txt
// against Decoder{Compat: CompatHAProxy26}: same verdict, same log reason,
// and for accepted inputs the same addresses, authority and unique ID that
// HAProxy logged.
func TestCraftedHAProxy26(t *testing.T) {
	results := parseAcceptResults(t)
	if len(results) != 35 {
		t.Fatalf("accept-proxy-results.txt: %d probes, want 35", len(results))
	}
	d := Decoder{Compat: CompatHAProxy26}
	for _, r := range results {
		t.Run(r.name+"/"+strings.ReplaceAll(r.args, " ", ""), func(t *testing.T) {
			b := readVector(t, "crafted/"+r.name)
			if strings.Contains(r.args, "-split") {
				// HAProxy 2.6 does not wait for the rest of a header split
				// across reads ("Truncated"). Waiting is the caller's
				// policy: the decoder must say "need more" for the first
				// segment, EOFError gives HAProxy's reason, and the whole
				// input is valid.
				var cut int
				fmt.Sscanf(r.args, "-split %d", &cut)
				if _, _, err := d.Decode(b[:cut]); err != ErrNeedMore {
					t.Fatalf("first %d bytes: %v, want ErrNeedMore", cut, err)
				}
				if got := EOFError(b[:cut], false).Kind.HAProxyReason(); got != r.reason {
					t.Errorf("EOF reason %q, HAProxy %q", got, r.reason)
				}
				if _, _, err := d.Decode(b); err != nil {
					t.Errorf("whole input: %v", err)
				}
				return
			}
			timedOut := !strings.Contains(r.args, "-shut") && len(b) == 0
			h, _, err := decodeAll(d, b, timedOut)
			if !r.accepted {
				var pe *Error
				if !errors.As(err, &pe) {
					t.Fatalf("accepted as %s; HAProxy rejected: %s", h, r.reason)
				}
				if got := pe.Kind.HAProxyReason(); got != r.reason {
					t.Errorf("reason %q (%v), HAProxy %q", got, pe, r.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("rejected (%v); HAProxy accepted", err)
			}
			logSrc, logDst := splitLogAddr(t, r.logSrc), splitLogAddr(t, r.logDst)
			if src, dst, ok := h.Addresses(); ok {
				if src != logSrc || dst != logDst {
					t.Errorf("addresses %s -> %s, HAProxy used %s -> %s", src, dst, logSrc, logDst)
				}
			} else if logSrc.Addr() != netip.MustParseAddr("127.0.0.1") || logDst.Port() != 8101 {
				t.Errorf("%s has no addresses, but HAProxy logged %s -> %s, not the real endpoints", h, logSrc, logDst)
			}
			for _, c := range []struct {
				name   string
				typ    uint8
				logged string
			}{{"authority", TypeAuthority, r.authority}, {"unique_id", TypeUniqueID, r.uniqueID}} {
				v, ok := h.TLV(c.typ)
				got := "-"
				if ok && len(v) > 0 {
					got = string(v)
				}
				if got != c.logged {
					t.Errorf("%s %q, HAProxy logged %q", c.name, got, c.logged)
				}
			}
		})
	}
}
