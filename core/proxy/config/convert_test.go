package config

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeMap(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.map")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const testMap = `# SNI -> backend
a.example    bk_a
example.org  bk_org
EXAMPLE.NET  bk_net_upper
a.example    bk_second
`

// Converters and maps, as haproxy 2.6 applies them (map_dom: "example"
// matches "a.example"; a fetch without a value is not converted, so a
// map's default does not apply to it).
func TestConverters(t *testing.T) {
	m := writeMap(t, testMap)
	base := &fakeSource{src: netip.MustParseAddrPort("10.1.2.3:4000")}
	sni := string(helloSNI) // a.example, ALPN h2 http/1.1
	for _, tc := range []struct {
		name, cond string
		s          *fakeSource
		want       Result
	}{
		{"lower", "{ req.ssl_sni,upper -m str A.EXAMPLE }", base.with(sni), Pass},
		{"upper lower", "{ req.ssl_sni,upper,lower a.example }", base.with(sni), Pass},
		{"map", "{ req.ssl_sni,map(" + m + ") bk_a }", base.with(sni), Pass},
		{"map first entry wins", "{ req.ssl_sni,map(" + m + ") bk_second }", base.with(sni), Fail},
		{"map miss no default", "{ req.ssl_sni,upper,map(" + m + ") -m found }", base.with(sni), Fail},
		{"map miss default", "{ req.ssl_sni,upper,map(" + m + ",bk_def) bk_def }", base.with(sni), Pass},
		{"map_end", "{ req.ssl_sni,map_end(" + m + ") bk_a }", base.with(sni), Pass},
		{"map_beg", "{ req.payload(0,0),map_beg(" + m + ") bk_org }", base.with("example.org/x"), Pass},
		{"map_sub", "{ req.payload(0,0),map_sub(" + m + ") bk_org }", base.with("www.example.org:443"), Pass},
		{"map_dom", "{ req.payload(0,0),map_dom(" + m + ") bk_org }", base.with("www.example.org"), Pass},
		{"map_dom components", "{ req.payload(0,0),map_dom(" + m + ") -m found }", base.with("www.xexample.org"), Fail},
		{"map on ip", "{ src,map(" + writeMap(t, "10.1.2.3 local\n") + ") local }", base, Pass},
		{"no value: no default", "{ req.ssl_sni,map(" + m + ",bk_def) -m found }", base.with("GET /"), Fail},
		{"waits through converters", "{ req.ssl_sni,lower a.example }", base.with(sni[:40]), Miss},
		{"alpn converted", "{ req.ssl_alpn,upper H2 }", base.with(sni), Pass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := condOf(t, "tcp-request content accept if "+tc.cond)
			final := !strings.HasPrefix(tc.name, "waits")
			if got := c.Eval(&Env{S: tc.s, Phase: PhaseContent, Final: final}); got != tc.want {
				t.Errorf("%s = %v, want %v", tc.cond, got, tc.want)
			}
		})
	}
}

func TestConverterErrors(t *testing.T) {
	m := writeMap(t, "a b\n")
	for _, tc := range []struct{ expr, err string }{
		{"req.ssl_sni,frob", `fetch method 'req.ssl_sni': unknown converter 'frob'`},
		{"req.ssl_sni,lower(1)", `fetch method 'req.ssl_sni': converter 'lower' does not take arguments`},
		{"req.ssl_sni,map", `fetch method 'req.ssl_sni': converter 'map': missing arguments (got 0/1)`},
		{"req.ssl_sni,map(/nonexistent/x.map)", `fetch method 'req.ssl_sni': converter 'map': failed to open map file '/nonexistent/x.map': open /nonexistent/x.map: no such file or directory`},
		{"req.ssl_sni,map(" + m + ",a,b)", `fetch method 'req.ssl_sni': converter 'map': too many arguments (3, at most 2)`},
		{"req.ssl_sni,map_reg(" + writeMap(t, "a( x\n") + ")", "regex 'a(' is invalid"},
		{"req.ssl_sni,map(" + m, `fetch method 'req.ssl_sni': 'map': missing closing ')' after arguments`},
	} {
		_, err := parseSampleExpr(tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want %s", tc.expr, err, tc.err)
		}
	}
}

// Dynamic use_backend names: parsed once, built per session.
func TestNameFormat(t *testing.T) {
	m := writeMap(t, testMap)
	c, err := parse(t, "frontend f\n bind :1\n timeout client 1s\n use_backend %[req.ssl_sni,lower,map_dom("+m+",bk_def)]\n use_backend bk_%[src,map("+writeMap(t, "10.1.2.3 x\n")+")] if TRUE\nbackend bk_a\n")
	if err != nil {
		t.Fatal(err)
	}
	u := c.Frontends[0].UseBackends
	if len(u) != 2 || u[0].Dynamic == nil || u[0].Backend != nil {
		t.Fatalf("use_backends %+v", u)
	}
	base := &fakeSource{src: netip.MustParseAddrPort("10.1.2.3:4000")}
	for _, tc := range []struct {
		f    *NameFormat
		s    *fakeSource
		want string
	}{
		{u[0].Dynamic, base.with(string(helloSNI)), "bk_a"},
		{u[0].Dynamic, base.with("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"), "-"},
		{u[1].Dynamic, base, "bk_x"},
		{u[1].Dynamic, &fakeSource{src: netip.MustParseAddrPort("10.9.9.9:1")}, "bk_-"},
	} {
		if got := string(tc.f.Build(&Env{S: tc.s, Phase: PhaseContent, Final: true}, nil)); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.f, got, tc.want)
		}
	}
	for _, bad := range []struct{ name, err string }{
		{"%[req.ssl_sni", `use_backend '%[req.ssl_sni': missing ']' after '%[req.ssl_sni'`},
		{"%ci", `use_backend '%ci': only %[...] sample expressions are supported in a dynamic backend name (got '%ci')`},
		{"%[frob]", `use_backend '%[frob]': unknown fetch method 'frob' in ACL expression 'frob'`},
	} {
		_, err := parse(t, "frontend f\n bind :1\n use_backend "+bad.name+"\n")
		if err == nil || !strings.HasSuffix(err.Error(), bad.err) {
			t.Errorf("%s: err %v, want %s", bad.name, err, bad.err)
		}
	}
}

// FuzzMap: any map file content either loads or fails with an error; a
// loaded map answers any lookup, with a value from the file.
func FuzzMap(f *testing.F) {
	f.Add([]byte(testMap), []byte("www.example.org"), uint8(0))
	f.Add([]byte("^a.*$ x\n(b) y\n"), []byte("abc"), uint8(4))
	f.Add([]byte("k\n\n#c\n  v  w  \n"), []byte("k"), uint8(5))
	kinds := []MatchKind{MatchStr, MatchBeg, MatchEnd, MatchSub, MatchReg, matchDom}
	f.Fuzz(func(t *testing.T, file, key []byte, kind uint8) {
		mf, err := parseMap(bytes.NewReader(file), "f", kinds[int(kind)%len(kinds)])
		if err != nil {
			return
		}
		if v, ok := mf.lookup(key); ok && !bytes.Contains(file, v) {
			t.Fatalf("value %q is not from the file", v)
		}
	})
}

// FuzzNameFormat: any use_backend name either parses or fails with an
// error, and a parsed one builds without panicking.
func FuzzNameFormat(f *testing.F) {
	f.Add("bk_%[req.ssl_sni,lower]")
	f.Add("%[src]_%[dst_port]x")
	f.Add("%[req.payload(0,3),upper")
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, "map") {
			return // map files are fuzzed by FuzzMap, not opened here
		}
		nf, err := parseNameFormat(s)
		if err != nil {
			return
		}
		e := &Env{S: &fakeSource{src: netip.MustParseAddrPort("10.0.0.1:1"), req: helloSNI}, Phase: PhaseContent, Final: true}
		_ = nf.Build(e, nil)
	})
}
