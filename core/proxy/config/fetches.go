package config

import (
	"crypto/tls"
	"errors"
	"github.com/netmodels/netmodels/core/proxy/sticktable"
	"net/netip"

	"github.com/netmodels/netmodels/core/proxy/tlshello"
)

// fetches is the fetch table (see the package comment in sample.go for how
// to add one). Names and semantics are HAProxy 2.6's; legacy spellings
// (req_len, req_ssl_sni, …) are entries of their own.
var fetches = []Fetch{
	// Layer 4: the connection's addresses.
	{name: "src", out: TypeIP, phase: PhaseConnection, fn: fetchSrc},
	{name: "dst", out: TypeIP, phase: PhaseConnection, fn: fetchDst},
	{name: "src_port", out: TypeInt, phase: PhaseConnection, fn: fetchSrcPort},
	{name: "dst_port", out: TypeInt, phase: PhaseConnection, fn: fetchDstPort},

	// Layer 6: the request bytes buffered while content rules run.
	{name: "req.len", out: TypeInt, phase: PhaseContent, fn: fetchReqLen},
	{name: "req_len", out: TypeInt, phase: PhaseContent, fn: fetchReqLen},
	{name: "req.payload", args: []ArgType{ArgInt, ArgInt}, minArgs: 2, out: TypeBin, phase: PhaseContent, fn: fetchPayload},
	{name: "payload", args: []ArgType{ArgInt, ArgInt}, minArgs: 2, out: TypeBin, phase: PhaseContent, fn: fetchPayload},
	// A TLS ClientHello at the start of the request (TLS passthrough).
	{name: "req.ssl_hello_type", out: TypeInt, phase: PhaseContent, fn: fetchHelloType},
	{name: "req_ssl_hello_type", out: TypeInt, phase: PhaseContent, fn: fetchHelloType},
	{name: "req.ssl_sni", out: TypeStr, phase: PhaseContent, fn: fetchHelloSNI},
	{name: "req_ssl_sni", out: TypeStr, phase: PhaseContent, fn: fetchHelloSNI},
	{name: "req.ssl_alpn", out: TypeStr, phase: PhaseContent, fn: fetchHelloALPN},
	{name: "req.ssl_ver", out: TypeInt, phase: PhaseContent, intPat: parseDottedVer, fn: fetchSSLVer},
	{name: "req_ssl_ver", out: TypeInt, phase: PhaseContent, intPat: parseDottedVer, fn: fetchSSLVer},

	// Layer 5: the client-side TLS state of an "ssl" bind (part of the
	// session; false/absent on a raw bind).
	{name: "ssl_fc", out: TypeBool, phase: PhaseContent, fn: fetchSSLFC},
	{name: "ssl_fc_sni", out: TypeStr, phase: PhaseContent, fn: fetchSSLFCSNI},

	// Internal: constants and waiting.
	{name: "always_true", out: TypeBool, phase: PhaseConnection, fn: func(_ *Env, _ []Arg, smp *Sample) bool {
		smp.SetBool(true)
		return true
	}},
	{name: "always_false", out: TypeBool, phase: PhaseConnection, fn: func(_ *Env, _ []Arg, smp *Sample) bool {
		smp.SetBool(false)
		return true
	}},
	{name: "wait_end", out: TypeBool, phase: PhaseContent, fn: fetchWaitEnd},
}

func fetchSrc(e *Env, _ []Arg, smp *Sample) bool {
	a := e.S.Src().Addr()
	if !a.IsValid() {
		return false
	}
	smp.SetIP(a)
	return true
}

func fetchDst(e *Env, _ []Arg, smp *Sample) bool {
	a := e.S.Dst().Addr()
	if !a.IsValid() {
		return false
	}
	smp.SetIP(a)
	return true
}

func fetchSrcPort(e *Env, _ []Arg, smp *Sample) bool {
	ap := e.S.Src()
	if !ap.IsValid() {
		return false
	}
	smp.SetInt(int64(ap.Port()))
	return true
}

func fetchDstPort(e *Env, _ []Arg, smp *Sample) bool {
	ap := e.S.Dst()
	if !ap.IsValid() {
		return false
	}
	smp.SetInt(int64(ap.Port()))
	return true
}

// fetchReqLen: the bytes buffered so far; it may grow until the buffer is
// final.
func fetchReqLen(e *Env, _ []Arg, smp *Sample) bool {
	b, final := e.Req()
	smp.SetInt(int64(len(b)))
	smp.MayChange = !final
	return true
}

// fetchPayload is req.payload(off,len): len bytes at off, or with len 0
// everything from off (which may still grow).
func fetchPayload(e *Env, args []Arg, smp *Sample) bool {
	b, final := e.Req()
	off, n := args[0].Int, args[1].Int
	if off > int64(len(b)) || n > 0 && off+n > int64(len(b)) {
		smp.MayChange = !final
		return false
	}
	if n == 0 {
		smp.SetBytes(TypeBin, b[off:])
		smp.MayChange = !final
		return true
	}
	smp.SetBytes(TypeBin, b[off:off+n])
	return true
}

// fetchHelloType is HAProxy 2.6's req.ssl_hello_type: on an SSLv3-format
// record (types 20-23 or 255, version 3.x, room for a handshake header),
// the type of the handshake message (1: ClientHello) once all of it is
// buffered.
func fetchHelloType(e *Env, _ []Arg, smp *Sample) bool {
	b, final := e.Req()
	if len(b) > 0 && !(b[0] >= 0x14 && b[0] <= 0x17 || b[0] == 0xff) {
		return false
	}
	if len(b) < 9 {
		smp.MayChange = !final
		return false
	}
	if b[1] < 3 || int(b[3])<<8|int(b[4]) < 4 {
		return false
	}
	if n := int(b[6])<<16 | int(b[7])<<8 | int(b[8]); len(b) < 9+n {
		smp.MayChange = !final
		return false
	}
	smp.SetInt(int64(b[5]))
	return true
}

// fetchHelloSNI is the ClientHello's server name; none when the hello
// has none or is not a valid ClientHello.
func fetchHelloSNI(e *Env, _ []Arg, smp *Sample) bool {
	b, final := e.Req()
	name, err := tlshello.ServerName(b)
	if errors.Is(err, tlshello.ErrIncomplete) {
		smp.MayChange = !final
		return false
	}
	if err != nil || name == nil {
		return false
	}
	smp.SetBytes(TypeStr, name)
	return true
}

// fetchHelloALPN gives the ClientHello's ALPN protocol names one by one
// (NotLast), so "{ req.ssl_alpn h2 }" matches a client offering h2
// anywhere in its list.
func fetchHelloALPN(e *Env, _ []Arg, smp *Sample) bool {
	b, final := e.Req()
	list, err := tlshello.ALPN(b)
	if errors.Is(err, tlshello.ErrIncomplete) {
		smp.MayChange = !final
		return false
	}
	off := smp.Ctx
	if err != nil || off >= len(list) {
		return false
	}
	n := int(list[off]) // checked by the parser: the name fits
	smp.SetBytes(TypeStr, list[off+1:off+1+n])
	if next := off + 1 + n; next < len(list) {
		smp.Ctx, smp.NotLast = next, true
	}
	return true
}

// fetchSSLVer is HAProxy 2.6's req.ssl_ver: on an SSLv3-format record
// (types 20-23 or 255, major version 3, length 6 to 2^14+2048), the
// ClientHello's client version (bytes 9-10; 3.3 for TLS 1.2 and 1.3
// clients), as MAJOR<<16 | MINOR, once the whole record is buffered.
// SSLv2-format hellos are not recognised.
func fetchSSLVer(e *Env, _ []Arg, smp *Sample) bool {
	b, final := e.Req()
	if len(b) > 0 && !(b[0] >= 0x14 && b[0] <= 0x17 || b[0] == 0xff) {
		return false
	}
	if len(b) >= 3 && b[1] < 3 {
		return false
	}
	if len(b) >= 5 {
		if n := int(b[3])<<8 | int(b[4]); n < 6 || n > 1<<14+2048 {
			return false
		}
	}
	if len(b) < 11 || len(b) < 5+(int(b[3])<<8|int(b[4])) {
		smp.MayChange = !final
		return false
	}
	smp.SetInt(int64(b[9])<<16 | int64(b[10]))
	return true
}

// fetchWaitEnd is true only once the content is final (inspect-delay
// expired, buffer full or client EOF): "tcp-request content accept if
// WAIT_END" waits the whole delay.
func fetchWaitEnd(e *Env, _ []Arg, smp *Sample) bool {
	if !e.Final {
		smp.MayChange = true
		return false
	}
	smp.SetBool(true)
	return true
}

func fetchSSLFC(e *Env, _ []Arg, smp *Sample) bool {
	st, ok := e.S.TLS()
	smp.SetBool(ok && st.HandshakeComplete)
	return true
}

func fetchSSLFCSNI(e *Env, _ []Arg, smp *Sample) bool {
	st, ok := e.S.TLS()
	if !ok || st.ServerName == "" {
		return false
	}
	smp.SetBytes(TypeStr, []byte(st.ServerName))
	return true
}

// sourceAddr is a SampleSource with only a source address (Cond.Match).
type sourceAddr netip.Addr

func (a sourceAddr) Src() netip.AddrPort                 { return netip.AddrPortFrom(netip.Addr(a), 0) }
func (a sourceAddr) Dst() netip.AddrPort                 { return netip.AddrPort{} }
func (a sourceAddr) Req() ([]byte, bool)                 { return nil, true }
func (a sourceAddr) TLS() (tls.ConnectionState, bool)    { return tls.ConnectionState{}, false }
func (a sourceAddr) StickCtr(int) *sticktable.Entry      { return nil }
func (a sourceAddr) StickTable(string) *sticktable.Table { return nil }
