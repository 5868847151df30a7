package config

import (
	"crypto/tls"
	"errors"
	"github.com/netmodels/netmodels/core/proxy/sticktable"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/core/proxy/tlshello/hellotest"
)

// fakeSource is a session as fetches see it.
type fakeSource struct {
	src, dst netip.AddrPort
	req      []byte
	full     bool // the buffer is final (full or EOF)
	tls      *tls.ConnectionState
	sc       []*sticktable.Entry
	tables   map[string]*sticktable.Table
}

func (f *fakeSource) Src() netip.AddrPort { return f.src }
func (f *fakeSource) Dst() netip.AddrPort { return f.dst }
func (f *fakeSource) Req() ([]byte, bool) { return f.req, f.full }
func (f *fakeSource) TLS() (tls.ConnectionState, bool) {
	if f.tls == nil {
		return tls.ConnectionState{}, false
	}
	return *f.tls, true
}
func (f *fakeSource) StickCtr(n int) *sticktable.Entry {
	if n < len(f.sc) {
		return f.sc[n]
	}
	return nil
}
func (f *fakeSource) StickTable(name string) *sticktable.Table { return f.tables[name] }
func (f *fakeSource) with(req string) *fakeSource              { g := *f; g.req = []byte(req); return &g }
func (f *fakeSource) withTLS(sni string) *fakeSource {
	g := *f
	g.tls = &tls.ConnectionState{HandshakeComplete: true, ServerName: sni}
	return &g
}

// condOf parses the frontend lines and returns the condition of its last
// content rule.
func condOf(t *testing.T, lines string) *Cond {
	t.Helper()
	c, err := parse(t, "frontend f\n bind :1\n timeout client 1s\n"+lines+"\n")
	if err != nil {
		t.Fatalf("%q: %v", lines, err)
	}
	r := c.Frontends[0].ContentRules
	return r[len(r)-1].Cond
}

var (
	helloSNI   = hellotest.MustCapture(&tls.Config{ServerName: "a.example", NextProtos: []string{"h2", "http/1.1"}})
	helloNoSNI = hellotest.MustCapture(&tls.Config{InsecureSkipVerify: true})
)

// TestCondEval: fetches, matchers, and the three-state logic (a rule that
// cannot tell yet says Miss until the data is final).
func TestCondEval(t *testing.T) {
	base := &fakeSource{
		src: netip.MustParseAddrPort("10.1.2.3:40000"),
		dst: netip.MustParseAddrPort("192.0.2.1:443"),
	}
	sni := string(helloSNI)
	for _, tc := range []struct {
		name  string
		rule  string // lines; the last is a tcp-request content rule
		s     *fakeSource
		final bool
		want  Result
	}{
		{"src", "tcp-request content accept if { src 10.0.0.0/8 }", base, false, Pass},
		{"src miss", "tcp-request content accept if { src 11.0.0.0/8 ::1 }", base, false, Fail},
		{"src as str", "tcp-request content accept if { src -m str 10.1.2.3 }", base, false, Pass},
		{"dst", "tcp-request content accept if { dst 192.0.2.0/24 }", base, false, Pass},
		{"src_port range", "tcp-request content accept if { src_port 1024: }", base, false, Pass},
		{"dst_port eq", "tcp-request content accept if { dst_port eq 443 }", base, false, Pass},
		{"dst_port lt", "tcp-request content accept if { dst_port lt 443 }", base, false, Fail},
		{"LOCALHOST", "tcp-request content accept if LOCALHOST", base, false, Fail},
		{"TRUE", "tcp-request content accept if TRUE", base, false, Pass},
		{"FALSE", "tcp-request content accept if FALSE", base, false, Fail},

		{"req.len waits", "tcp-request content accept if { req.len gt 3 }", base.with("ab"), false, Miss},
		{"req.len final", "tcp-request content accept if { req.len gt 3 }", base.with("ab"), true, Fail},
		{"req.len full buffer", "tcp-request content accept if { req.len gt 3 }", &fakeSource{req: []byte("ab"), full: true}, false, Fail},
		{"req.len enough", "tcp-request content accept if { req.len gt 3 }", base.with("abcd"), false, Pass},
		{"req.len lt passes early", "tcp-request content accept if { req.len lt 3 }", base.with(""), false, Pass},
		{"req_len range", "tcp-request content accept if { req_len 2:3 }", base.with("abc"), true, Pass},
		{"negated miss stays miss", "tcp-request content accept if !{ req.len gt 3 }", base.with("ab"), false, Miss},
		{"negated", "tcp-request content accept if !{ req.len gt 3 }", base.with("ab"), true, Pass},
		{"unless miss", "tcp-request content reject unless { req.len gt 3 }", base.with("ab"), false, Miss},
		{"unless", "tcp-request content reject unless { req.len gt 3 }", base.with("abcd"), false, Fail},
		{"or: one passes", "tcp-request content accept if { req.len gt 100 } || { src 10.0.0.0/8 }", base.with("ab"), false, Pass},
		{"and: miss first", "tcp-request content accept if { req.len gt 100 } { src 10.0.0.0/8 }", base.with("ab"), false, Miss},
		{"and: fail first", "tcp-request content accept if { src 11.0.0.0/8 } { req.len gt 100 }", base.with("ab"), false, Fail},
		{"or keyword", "tcp-request content accept if FALSE or TRUE", base, false, Pass},
		{"named, two lines", "acl a req.len 7\n acl a src 10.0.0.0/8\n tcp-request content accept if a", base.with("x"), false, Pass},

		{"payload str waits", "tcp-request content accept if { req.payload(0,3) -m str GET }", base.with("GE"), false, Miss},
		{"payload str", "tcp-request content accept if { req.payload(0,3) -m str GET }", base.with("GET / HTTP/1.0"), false, Pass},
		{"payload str other", "tcp-request content accept if { req.payload(0,3) -m str GET }", base.with("PUT /"), false, Fail},
		{"payload str final short", "tcp-request content accept if { req.payload(0,3) -m str GET }", base.with("GE"), true, Fail},
		{"payload bin", "tcp-request content accept if { req.payload(0,4) -m bin 50494e47 }", base.with("PING\r\n"), false, Pass},
		{"payload -i", "tcp-request content accept if { req.payload(0,3) -i -m str get }", base.with("GET"), false, Pass},
		{"payload beg", "tcp-request content accept if { payload(0,0) -m beg SSH- }", base.with("SSH-2.0-x"), false, Pass},
		{"payload to end waits", "tcp-request content accept if { req.payload(0,0) -m len 5 }", base.with("abc"), false, Miss},
		{"payload to end sub", "tcp-request content accept if { req.payload(1,0) -m sub ET }", base.with("GET"), false, Pass},
		{"payload reg", `tcp-request content accept if { req.payload(0,0) -m reg ^[A-Z]+[[:space:]]/ }`, base.with("GET / HTTP"), false, Pass},
		{"payload found", "tcp-request content accept if { req.payload(4,2) -m found }", base.with("abcdef"), false, Pass},
		{"payload found waits", "tcp-request content accept if { req.payload(4,2) -m found }", base.with("abcde"), false, Miss},

		{"hello type waits", "tcp-request content accept if { req.ssl_hello_type 1 }", base.with(sni[:20]), false, Miss},
		{"hello type", "tcp-request content accept if { req.ssl_hello_type 1 }", base.with(sni), false, Pass},
		{"hello type garbage", "tcp-request content accept if { req.ssl_hello_type 1 }", base.with("GET / HTTP/1.0\r\n"), false, Fail},
		{"hello type empty", "tcp-request content accept if { req_ssl_hello_type 1 }", base.with(""), false, Miss},
		{"sni -i", "tcp-request content accept if { req.ssl_sni -i A.Example }", base.with(sni), false, Pass},
		{"sni case", "tcp-request content accept if { req.ssl_sni A.Example }", base.with(sni), false, Fail},
		{"sni end", "tcp-request content accept if { req_ssl_sni -m end .example }", base.with(sni), false, Pass},
		{"sni reg", `tcp-request content accept if { req.ssl_sni -m reg ^a\.ex }`, base.with(sni), false, Pass},
		{"sni beg", "tcp-request content accept if { req.ssl_sni -m beg b. }", base.with(sni), false, Fail},
		{"sni waits", "tcp-request content accept if { req.ssl_sni -m found }", base.with(sni[:len(sni)-1]), false, Miss},
		{"sni absent", "tcp-request content accept if { req.ssl_sni -m found }", base.with(string(helloNoSNI)), false, Fail},
		{"alpn first", "tcp-request content accept if { req.ssl_alpn h2 }", base.with(sni), false, Pass},
		{"alpn second", "tcp-request content accept if { req.ssl_alpn http/1.1 }", base.with(sni), false, Pass},
		{"alpn beg", "tcp-request content accept if { req.ssl_alpn -m beg http/ }", base.with(sni), false, Pass},
		{"alpn other", "tcp-request content accept if { req.ssl_alpn h3 }", base.with(sni), false, Fail},
		{"alpn absent", "tcp-request content accept if { req.ssl_alpn -m found }", base.with(string(helloNoSNI)), false, Fail},
		{"alpn waits", "tcp-request content accept if { req.ssl_alpn h2 }", base.with(sni[:30]), false, Miss},
		{"alpn negated", "tcp-request content accept if !{ req.ssl_alpn h3 }", base.with(sni), false, Pass},
		{"sni len", "tcp-request content accept if { req.ssl_sni -m len 9 }", base.with(sni), false, Pass},
		// The ClientHello's version (3.3), not the record's (3.1), as
		// haproxy 2.6 reports for crypto/tls's hello.
		{"ssl_ver", "tcp-request content accept if { req.ssl_ver 3.3 }", base.with(sni), false, Pass},
		{"ssl_ver record", "tcp-request content accept if { req.ssl_ver 3.1 }", base.with(sni), false, Fail},
		{"ssl_ver ge", "tcp-request content accept if { req.ssl_ver ge 3.2 }", base.with(sni), false, Pass},
		{"ssl_ver range", "tcp-request content accept if { req_ssl_ver 3.0:3.2 }", base.with(sni), false, Fail},
		{"ssl_ver waits", "tcp-request content accept if { req.ssl_ver 3.3 }", base.with(sni[:12]), false, Miss},
		{"ssl_ver not ssl", "tcp-request content accept if { req.ssl_ver 3.3 }", base.with("GET / HTTP/1.1\r\n"), false, Fail},

		{"ssl_fc raw", "tcp-request content accept if { ssl_fc }", base, false, Fail},
		{"ssl_fc", "tcp-request content accept if { ssl_fc }", base.withTLS("x.example"), false, Pass},
		{"ssl_fc_sni", "tcp-request content accept if { ssl_fc_sni -i X.example }", base.withTLS("x.example"), false, Pass},
		{"ssl_fc_sni raw", "tcp-request content accept if { ssl_fc_sni -m found }", base, false, Fail},

		{"WAIT_END waits", "tcp-request content accept if WAIT_END", base, false, Miss},
		{"WAIT_END", "tcp-request content accept if WAIT_END", base, true, Pass},
		{"REQ_CONTENT waits", "tcp-request content accept if REQ_CONTENT", base.with(""), false, Miss},
		{"REQ_CONTENT", "tcp-request content accept if REQ_CONTENT", base.with("x"), false, Pass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := condOf(t, tc.rule)
			if got := c.Eval(&Env{S: tc.s, Phase: PhaseContent, Final: tc.final}); got != tc.want {
				t.Errorf("%s on %q (final %v) = %v, want %v", tc.rule, tc.s.req, tc.final, got, tc.want)
			}
		})
	}
}

// A content fetch in a connection rule has no value there.
func TestCondConnectionPhase(t *testing.T) {
	c := condOf(t, "tcp-request content accept if { req.len lt 5 }")
	s := &fakeSource{req: []byte("ab")}
	if got := c.Eval(&Env{S: s, Phase: PhaseConnection, Final: true}); got != Fail {
		t.Errorf("req.len in a connection rule = %v, want fail", got)
	}
	if got := c.Eval(&Env{S: s, Phase: PhaseContent, Final: true}); got != Pass {
		t.Errorf("req.len in a content rule = %v, want pass", got)
	}
}

// An evaluation through a reused Env allocates nothing (the proxy does it
// for every connection that has rules).
func TestCondEvalAllocs(t *testing.T) {
	c := condOf(t, "acl a src 10.0.0.0/8\n tcp-request content accept if a { req.payload(0,3) -m str GET } || { req.len gt 9 }")
	e := &Env{S: &fakeSource{src: netip.MustParseAddrPort("10.0.0.1:5"), req: []byte("GET /")}, Phase: PhaseContent}
	if n := testing.AllocsPerRun(100, func() { c.Eval(e) }); n != 0 {
		t.Errorf("Eval allocates %v times", n)
	}
}

func TestRulesParse(t *testing.T) {
	c, err := parse(t, `frontend f
    bind :1
    timeout client 1s
    tcp-request inspect-delay 5s
    tcp-request content accept if { req.ssl_hello_type 1 }
    tcp-request content reject
    use_backend b if { req.ssl_sni -i a.example }
    default_backend b
backend b
    tcp-request inspect-delay 2s
    tcp-request content reject if { req.len lt 4 }
    server s 127.0.0.1:2
listen l
    bind :2
    tcp-request inspect-delay 1s
    tcp-request content accept
    server s 127.0.0.1:3
`)
	if err != nil {
		t.Fatal(err)
	}
	fe, be := c.Frontends[0], c.Backend("b")
	if fe.InspectDelay != 5e9 || len(fe.ContentRules) != 2 || fe.ContentRules[0].Action != Accept || fe.ContentRules[1].Action != Reject ||
		fe.ContentRules[1].Cond != nil || fe.ContentRules[0].Where.Line != 5 || len(fe.UseBackends) != 1 {
		t.Errorf("frontend = %+v", fe)
	}
	if be.InspectDelay != 2e9 || len(be.ContentRules) != 1 {
		t.Errorf("backend = %+v", be)
	}
	l, lb := c.Frontends[1], c.Backend("l")
	if l.InspectDelay != 1e9 || len(l.ContentRules) != 1 || len(lb.ContentRules) != 0 || lb.InspectDelay != 0 {
		t.Errorf("listen: rules are its frontend's: %+v %+v", l, lb)
	}
}

// Errors and warnings of ACLs, conditions and tcp-request lines, with the
// texts HAProxy 2.6 gives (in this package's "file:line: message" form).
func TestRulesMessages(t *testing.T) {
	const head = "frontend f\n bind :1\n timeout client 1s\n"
	for _, tc := range []struct{ lines, err, warn string }{
		{lines: "acl a req.payload(0,3) 474554", err: `acl 'a': matching method must be specified first (using '-m') when using a sample fetch of this type ('req.payload')`},
		{lines: "acl a req.payload(0) -m str x", err: `acl 'a': fetch method 'req.payload': missing arguments (got 1/2), type 'integer' expected`},
		{lines: "acl a req.payload(a,3) -m str x", err: `acl 'a': fetch method 'req.payload': failed to parse 'a' as type 'integer' at position 1`},
		{lines: "acl a req.payload -m str x", err: `acl 'a': fetch method 'req.payload': expected type 'integer' at position 1, but got nothing`},
		{lines: "acl a req.payload(0,1,2) -m str x", err: `acl 'a': fetch method 'req.payload': too many arguments (3, at most 2)`},
		{lines: "acl a req.payload(0,1 -m str x", err: `acl 'a': fetch method 'req.payload': missing closing ')' after arguments`},
		{lines: "acl a src_port(1) 3", err: `acl 'a': fetch method 'src_port' does not take arguments`},
		{lines: "acl a req.ssl_sni,frob x", err: `acl 'a': fetch method 'req.ssl_sni': unknown converter 'frob'`},
		{lines: "acl a req.ssl_sni -m foo x", err: `acl 'a': unknown matching method 'foo'`},
		{lines: "acl a req.ssl_sni -m dom x", err: `acl 'a': matching method 'dom' is not supported (mode tcp)`},
		{lines: "acl a req.ssl_sni -m", err: `acl 'a': missing matching method after '-m'`},
		{lines: "acl a req.len abc", err: `acl 'a': 'abc' is not a number`},
		{lines: "acl a req.len 1:x", err: `acl 'a': 'x' is not a number`},
		{lines: "acl a req.ssl_ver foo", err: `acl 'a': 'foo' is not a dotted number`},
		{lines: "acl a req.payload(0,3) -m bin 47455", err: `acl 'a': '47455': an even number of hex digit is expected`},
		{lines: "acl a req.payload(0,3) -m bin zz", err: `acl 'a': 'zz': an hex digit is expected`},
		{lines: "acl a req.ssl_sni -m reg ^a(", err: `acl 'a': regex '^a(' is invalid (error parsing regexp: missing closing ): ` + "`^a(`)"},
		{lines: "acl a req.ssl_sni -f /x", err: `acl 'a': flag '-f' (patterns from a file) is not supported`},
		{lines: "acl a src -x 1.2.3.4", err: `acl 'a': '-x' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'`},
		{lines: "acl a foo.bar 1", err: `acl 'a': unknown fetch method 'foo.bar' in ACL expression 'foo.bar'`},
		{lines: "acl a", err: `'acl' expects a name, a fetch method and patterns`},
		{lines: "acl TRUE src 1.2.3.4", err: `acl 'TRUE': name is reserved for a predefined ACL`},
		{lines: "tcp-request content accept if { req.len gt x }", err: `tcp-request content accept: anonymous acl: 'x' is not a number`},
		{lines: "tcp-request content accept if { req.len 1", err: `tcp-request content accept: missing '}' after anonymous ACL`},
		{lines: "tcp-request content frob", err: `tcp-request content: action 'frob' is not supported (accept, reject, sc-inc-gpc0, silent-drop, track-sc0, track-sc1 or track-sc2)`},
		{lines: "tcp-request content", err: `tcp-request content: missing action (accept, reject, sc-inc-gpc0, silent-drop, track-sc0, track-sc1 or track-sc2)`},
		{lines: "tcp-request content accept foo", err: `'tcp-request content accept' only accepts 'if' or 'unless' (got 'foo')`},
		{lines: "tcp-request inspect-delay", err: `'tcp-request inspect-delay' expects a positive delay in milliseconds`},
		{lines: "tcp-request inspect-delay x", err: `tcp-request inspect-delay: invalid time 'x': expects a number with an optional unit (us, ms, s, m, h, d)`},
		{lines: "tcp-request session accept", err: `'tcp-request session' rules are not supported (use 'tcp-request connection' or 'tcp-request content')`},
		{lines: "tcp-request foo", err: `'tcp-request' expects 'inspect-delay', 'connection' or 'content' (got 'foo')`},
		{lines: "use_backend %[req.ssl_sni,lower,map(/nonexistent/sni.map)]", err: `use_backend '%[req.ssl_sni,lower,map(/nonexistent/sni.map)]': fetch method 'req.ssl_sni': converter 'map': failed to open map file '/nonexistent/sni.map': open /nonexistent/sni.map: no such file or directory`},
		{lines: "tcp-request", err: `'tcp-request' expects 'inspect-delay', 'connection' or 'content'`},

		{lines: "acl e req.ssl_sni", warn: `acl 'e': no pattern to match against were provided, so this ACL will never match. If this is what you intended, please add '--' to get rid of this warning. If you intended to match only for existence, please use '-m found'`},
		{lines: "acl e req.ssl_sni --"},
		{lines: "acl e req.ssl_sni -m found"},
		{lines: "acl e ssl_fc"},
		{lines: "acl e req.len -m int gt"},
		{lines: "acl e src -n -- 1.2.3.4"},
		{lines: "tcp-request connection reject if { req.len gt 3 }", warn: `anonymous acl will never match in 'tcp-request connection' because it uses keyword 'req.len' which is incompatible with 'frontend tcp-request connection rule'`},
		{lines: "acl x req.len gt 3\n tcp-request connection reject if x", warn: `acl 'x' will never match in 'tcp-request connection' because it only involves keywords that are incompatible with 'frontend tcp-request connection rule'`},
		{lines: "acl x req.len gt 3\n acl x src 1.2.3.4\n tcp-request connection reject if x"},
		{lines: "tcp-request content accept if { req.ssl_sni }", warn: `anonymous acl: no pattern to match against were provided, so this ACL will never match. If this is what you intended, please add '--' to get rid of this warning. If you intended to match only for existence, please use '-m found'`},
		{lines: "tcp-request inspect-delay 1s 2s"},
	} {
		c, err := parse(t, head+" "+tc.lines+"\n")
		if tc.err != "" {
			var pe *Error
			if !errors.As(err, &pe) || pe.Msg != tc.err {
				t.Errorf("%q:\n got  %v\n want %s", tc.lines, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.lines, err)
			continue
		}
		var got []string
		for _, w := range c.Warnings {
			if !strings.Contains(w.Msg, "missing timeouts") {
				got = append(got, w.Msg)
			}
		}
		if tc.warn == "" && len(got) > 0 || tc.warn != "" && (len(got) != 1 || got[0] != tc.warn) {
			t.Errorf("%q:\n warnings %q\n want     %q", tc.lines, got, tc.warn)
		}
	}
}

// FuzzCond: any condition text either fails to parse with a one-line
// error or evaluates without panicking, on any request bytes.
func FuzzCond(f *testing.F) {
	f.Add("{ req.ssl_sni -i a.example } || !{ req.len gt 3 }", []byte("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"), false)
	f.Add("{ req.payload(0,3) -m bin 474554 } { src 10.0.0.0/8 }", []byte("GET"), true)
	f.Add("{ req.ssl_ver ge 3.1 } or { req.ssl_hello_type 1 } WAIT_END", helloSNI, false)
	f.Add("{ req.payload(2,0) -i -m reg ^a.*b$ } ! { dst_port 1:100 }", []byte("xxAb"), false)
	f.Add("{ req.ssl_alpn -m sub 2 } || { req_ssl_sni -m len 1:20 }", helloSNI, true)
	f.Add("{ req.ssl_sni,upper,lower -m beg a. } { src,lower -m ip 10.0.0.0/8 }", helloSNI, false)
	f.Fuzz(func(t *testing.T, cond string, req []byte, final bool) {
		if strings.ContainsAny(cond, "\n#\"'\\") || strings.Contains(cond, "map") {
			return // map files are fuzzed by FuzzMap, not opened here
		}
		c, err := Parse([]File{{Name: "f", Data: []byte("frontend f\n bind :1\n tcp-request content accept if " + cond + "\n")}}, Options{})
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		s := &fakeSource{src: netip.MustParseAddrPort("10.0.0.1:1000"), req: req}
		e := &Env{S: s, Phase: PhaseContent, Final: final}
		r := c.Frontends[0].ContentRules[0].Cond.Eval(e)
		if final && r == Miss {
			t.Fatalf("%q: miss on final data", cond)
		}
	})
}

// Every fetch of the table is documented in spec/proxy.md's fetch table.
func TestSpecListsFetches(t *testing.T) {
	b, err := os.ReadFile("../../../spec/proxy.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range FetchNames() {
		if strings.Contains(name, "*") {
			continue // the stick-counter family, documented as patterns
		}
		if !strings.Contains(string(b), "`"+name+"`") && !strings.Contains(string(b), "`"+name+"(") {
			t.Errorf("fetch %q is not in spec/proxy.md", name)
		}
	}
}

func BenchmarkCondEval(b *testing.B) {
	c, err := Parse([]File{{Name: "b", Data: []byte("frontend f\n bind :1\n tcp-request content accept if { src 10.0.0.0/8 192.168.0.0/16 } { req.ssl_sni -i a.example b.example } || { req.payload(0,4) -m bin 50494e47 }\n")}}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	cond := c.Frontends[0].ContentRules[0].Cond
	e := &Env{S: &fakeSource{src: netip.MustParseAddrPort("10.0.0.1:5"), req: helloSNI}, Phase: PhaseContent}
	b.ReportAllocs()
	for b.Loop() {
		cond.Eval(e)
	}
}
