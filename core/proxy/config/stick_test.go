package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/proxy/sticktable"
)

// stick-table lines: the values, and HAProxy 2.6's own messages for every
// error and warning (checked with haproxy -c).
func TestStickTable(t *testing.T) {
	const tail = "listen z\n bind :9\n timeout client 1s\n timeout connect 1s\n timeout server 1s\n"
	c, err := parse(t, "frontend fe\n bind :1\n stick-table type ip size 100k expire 30s store conn_rate(10s),conn_cur,gpc0 nopurge\nbackend be\n stick-table type string len 8 size 1m store bytes_in_rate(1s),server_id\n"+tail)
	if err != nil {
		t.Fatal(err)
	}
	fe, be := c.Frontends[0].Table, c.Backends[0].Table
	if fe == nil || be == nil || len(c.Tables) != 2 || c.Table("fe") != fe || c.Table("be") != be {
		t.Fatalf("tables %+v", c.Tables)
	}
	if fe.Type != sticktable.TypeIP || fe.Size != 102400 || fe.Expire != 30*time.Second || !fe.NoPurge ||
		fe.Stores.Period(sticktable.ConnRate) != 10*time.Second || !fe.Stores.Has(sticktable.ConnCur) || !fe.Stores.Has(sticktable.GPC0) || fe.Stores.Has(sticktable.ConnCnt) {
		t.Errorf("fe table %+v", fe)
	}
	if be.Type != sticktable.TypeString || be.KeyLen != 8 || be.Size != 1<<20 || be.Expire != 0 || be.Stores.Period(sticktable.BytesInRate) != time.Second {
		t.Errorf("be table %+v", be)
	}

	for _, tc := range []struct{ cfg, warn, err string }{
		{cfg: "backend b\n stick-table type ipv6 size 10\n"},
		{cfg: "backend b\n stick-table type integer size 10 store conn_cnt\n"},
		{cfg: "backend b\n stick-table type string size 10 srvkey addr\n"},
		{cfg: "backend b\n stick-table type ip size 10 store conn_cur,conn_cur\n", warn: `cfg:2: warning: stick-table: store option 'conn_cur' already enabled, ignored.`},
		{cfg: "backend b\n stick-table type ip size 10 peers mypeers\n", warn: `cfg:2: warning: stick-table: 'peers mypeers' ignored: peers sections are not supported, the table is not synchronised`},
		{cfg: "backend b\n stick-table type ip size 10\n stick-table type ip size 10\n", err: `cfg:3: stick-table name 'b' conflicts with table declared in backend 'b' at cfg:2.`},
		{cfg: "frontend b\n bind :2\n stick-table type ip size 10\nbackend b\n stick-table type ip size 10\n", err: `cfg:5: stick-table name 'b' conflicts with table declared in frontend 'b' at cfg:3.`},
		{cfg: "defaults\n stick-table type ip size 10\n", err: `cfg:2: 'stick-table' is not supported in a defaults section`},
		{cfg: "backend b\n stick-table type binary size 10\n", err: `cfg:2: stick-table: type 'binary' is not supported (ip, ipv6, integer or string): no fetch here produces binary keys`},
		{cfg: "backend b\n stick-table type frob size 10\n", err: `cfg:2: stick-table: unknown type 'frob'.`},
		{cfg: "backend b\n stick-table type string len 0 size 10\n", err: `cfg:2: stick-table: unknown type '0'.`},
		{cfg: "backend b\n stick-table type string len 70000 size 10\n", err: `cfg:2: stick-table: string key length 70000 is too large (at most 65535 bytes here)`},
		{cfg: "backend b\n stick-table type ip len 10 size 10\n", err: `cfg:2: stick-table: unknown argument 'len'.`},
		{cfg: "backend b\n stick-table type ip size 100x\n", err: `cfg:2: stick-table: unexpected character 'x' in argument of 'size'.`},
		{cfg: "backend b\n stick-table type ip size\n", err: `cfg:2: stick-table: missing argument after 'size'.`},
		{cfg: "backend b\n stick-table type ip\n", err: `cfg:2: stick-table: missing size.`},
		{cfg: "backend b\n stick-table size 10\n", err: `cfg:2: stick-table: missing type.`},
		{cfg: "backend b\n stick-table type ip size 10 expire 10x\n", err: `cfg:2: stick-table: unexpected character 'x' in argument of 'expire'.`},
		{cfg: "backend b\n stick-table type ip size 10 expire 30d\n", err: `cfg:2: stick-table: timer overflow in argument <30d> to <expire>, maximum value is 2147483647 ms (~24.8 days).`},
		{cfg: "backend b\n stick-table type ip size 10 store gpc(3)\n", err: `cfg:2: stick-table: store option 'gpc' is not supported here (use gpc0, gpc1, gpt0, gpc0_rate, gpc1_rate; server_key is only for peers)`},
		{cfg: "backend b\n stick-table type ip size 10 store conn_rate\n", err: `cfg:2: stick-table: missing argument to store option 'conn_rate'.`},
		{cfg: "backend b\n stick-table type ip size 10 store conn_rate(10s\n", err: `cfg:2: stick-table: missing closing parenthesis after store option 'conn_rate'.`},
		{cfg: "backend b\n stick-table type ip size 10 store conn_rate(x)\n", err: `cfg:2: stick-table: error when processing store option 'conn_rate'.`},
		{cfg: "backend b\n stick-table type ip size 10 store conn_cur(3)\n", err: `cfg:2: stick-table: unexpected argument to store option 'conn_cur'.`},
		{cfg: "backend b\n stick-table type ip size 10 store frob\n", err: `cfg:2: stick-table: unknown store option 'frob'.`},
		{cfg: "backend b\n stick-table type ip size 10 srvkey frob\n", err: `cfg:2: stick-table : unknown server key type 'frob'.`},
		{cfg: "backend b\n stick-table type ip size 10 frob\n", err: `cfg:2: stick-table: unknown argument 'frob'.`},
	} {
		c, err := parse(t, tc.cfg+tail)
		if tc.err != "" {
			var pe *Error
			if !errors.As(err, &pe) || err.Error() != tc.err {
				t.Errorf("%q:\n got  %v\n want %s", tc.cfg, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.cfg, err)
			continue
		}
		var got []string
		for _, w := range c.Warnings {
			if !strings.Contains(w.Msg, "missing timeouts") && !strings.Contains(w.Msg, "no 'bind'") {
				got = append(got, w.String())
			}
		}
		if tc.warn == "" && len(got) > 0 || tc.warn != "" && (len(got) == 0 || got[0] != tc.warn) {
			t.Errorf("%q:\n warnings %q\n want     %q", tc.cfg, got, tc.warn)
		}
	}
}

func TestHAProxySize(t *testing.T) {
	for _, c := range []struct {
		in     string
		n, bad int
	}{{"10", 10, -1}, {"100k", 102400, -1}, {"1M", 1 << 20, -1}, {"2g", 2 << 30, -1}, {"4g", 0, 1}, {"", 0, 0}, {"k", 0, 0}, {"10kb", 0, 3}, {"99999999999", 0, 9}} {
		if n, bad := haproxySize(c.in); n != c.n || bad != c.bad {
			t.Errorf("haproxySize(%q) = %d, %d; want %d, %d", c.in, n, bad, c.n, c.bad)
		}
	}
}

// Stick rules and fetches: what they parse to, and HAProxy 2.6's messages
// (checked with haproxy -c).
func TestStickRules(t *testing.T) {
	c, err := parse(t, `
frontend fe
    bind :1
    timeout client 1s
    stick-table type ip size 10 store conn_rate(10s),gpc0
    tcp-request connection track-sc0 src
    tcp-request connection sc-inc-gpc0(0) if { src 10.0.0.0/8 }
    tcp-request connection silent-drop if { sc_conn_rate(0) gt 20 } || { src_conn_rate gt 30 }
    tcp-request connection track-sc1 src table be
    default_backend be
backend be
    stick-table type ip size 10
    stick on src
    stick match src table be if { sc0_get_gpc0(fe) gt 1 }
    stick store-request src
    server a 1.2.3.4:5
`)
	if err != nil {
		t.Fatal(err)
	}
	fe, be := c.Frontends[0], c.Backends[0]
	r := fe.TCPRules
	if len(r) != 4 || r[0].Action != TrackSC || r[0].SC != 0 || r[0].Table != fe.Table || r[0].TrackKey.String() != "src" ||
		r[1].Action != IncGPC0 || r[1].SC != 0 || r[2].Action != SilentDrop || r[3].SC != 1 || r[3].Table != be.Table {
		t.Fatalf("rules %+v", r)
	}
	// src_conn_rate's default table became explicit: the rule's proxy.
	x := r[2].Cond.Or[1][0].ACL.Exprs[0].Sample
	if x.Fetch.Name() != "src_conn_rate" || len(x.Args) != 1 || x.Args[0].Str != "fe" {
		t.Fatalf("src_conn_rate args %+v", x.Args)
	}
	s := be.StickRules
	if len(s) != 3 || s[0].Kind != StickOn || s[1].Kind != StickMatch || s[2].Kind != StickStoreRequest || s[0].Table != be.Table || s[1].Cond == nil {
		t.Fatalf("stick rules %+v", s)
	}
	if !be.Table.Stores.Has(sticktable.ServerID) || !be.Table.Stores.Has(sticktable.ServerKey) {
		t.Fatal("a persistence table did not get server_id and server_key")
	}

	const fe0 = "frontend fe\n bind :1\n timeout client 1s\n default_backend be\n"
	const be0 = "backend be\n timeout connect 1s\n timeout server 1s\n server a 1.2.3.4:5\n"
	for _, tc := range []struct{ cfg, warn, err string }{
		{cfg: fe0 + " tcp-request connection track-sc0 src\n" + be0, err: `cfg:5: Proxy 'fe': unable to find table 'fe' referenced by track-sc0.`},
		{cfg: fe0 + " tcp-request connection track-sc0 src table nope\n" + be0, err: `cfg:5: Proxy 'fe': unable to find table 'nope' referenced by track-sc0.`},
		{cfg: fe0 + " tcp-request connection track-sc0 src table p/t\n" + be0, err: `cfg:5: Proxy 'fe': unable to find table 'p/t' referenced by track-sc0. (tables declared in 'peers' sections are not supported: peers sections are ignored)`},
		{cfg: fe0 + " tcp-request connection track-sc3 src\n" + be0, err: `cfg:5: 'tcp-request connection track-sc3' : 3 track-sc number exceeding 2 (MAX_SESS_STKCTR-1) value`},
		{cfg: fe0 + " tcp-request connection track-sc0\n" + be0, err: `cfg:5: 'tcp-request connection track-sc0' : missing fetch method`},
		{cfg: fe0 + " tcp-request connection track-sc0 req.len\n" + be0, err: `cfg:5: 'tcp-request connection track-sc0' : fetch method 'req.len' extracts information from 'request buffer', none of which is available here`},
		{cfg: fe0 + " tcp-request connection track-sc0 src foo\n" + be0, err: `cfg:5: 'tcp-request connection track-sc0' only accepts 'if' or 'unless', in proxy 'fe' (got 'foo')`},
		{cfg: fe0 + " tcp-request connection sc-inc-gpc0(4)\n" + be0, err: `cfg:5: invalid stick table track ID. The max allowed ID is 2`},
		{cfg: fe0 + " tcp-request connection sc-inc-gpc0(1) foo\n" + be0, err: `cfg:5: 'tcp-request connection sc-inc-gpc0(1)' only accepts 'if' or 'unless', in proxy 'fe' (got 'foo')`},
		{cfg: fe0 + " tcp-request connection reject if { src_conn_rate gt 20 }\n" + be0, err: `cfg:5: unable to find table 'fe' referenced in arg 1 of ACL keyword 'src_conn_rate' in proxy 'fe'.`},
		{cfg: fe0 + " tcp-request connection reject if { sc0_conn_rate(nope) gt 20 }\n" + be0, err: `cfg:5: unable to find table 'nope' referenced in arg 1 of ACL keyword 'sc0_conn_rate' in proxy 'fe'.`},
		{cfg: fe0 + " tcp-request connection reject if { sc_conn_rate(0) gt 20 }\n" + be0},
		{cfg: fe0 + " tcp-request connection reject if { sc_conn_rate(5) gt 20 }\n" + be0},
		{cfg: fe0 + " tcp-request connection silent-drop\n tcp-request connection sc-inc-gpc0\n" + be0},
		{cfg: fe0 + " stick on src\n" + be0, warn: `cfg:5: warning: 'stick' ignored because frontend 'fe' has no backend capability`},
		{cfg: fe0 + be0 + " stick on src\n", err: `cfg:9: Proxy 'be': unable to find stick-table 'be'.`},
		{cfg: fe0 + be0 + " stick on src table nope\n", err: `cfg:9: Proxy 'be': unable to find stick-table 'nope'.`},
		{cfg: fe0 + be0 + " stick on\n", err: `cfg:9: 'stick' expects a fetch method.`},
		{cfg: fe0 + be0 + " stick foo src\n", err: `cfg:9: 'stick' expects 'on', 'match', or 'store'.`},
		{cfg: fe0 + be0 + " stick-table type ip size 1\n stick on src table be foo\n", err: `cfg:10: 'stick': unknown keyword "foo".`},
		{cfg: fe0 + be0 + " stick-table type ip size 1\n stick store-response src\n"},
		{cfg: "defaults\n stick on src\n", err: `cfg:2: 'stick' is not supported in a defaults section`},
	} {
		c, err := parse(t, tc.cfg)
		if tc.err != "" {
			var pe *Error
			if !errors.As(err, &pe) || err.Error() != tc.err {
				t.Errorf("%q:\n got  %v\n want %s", tc.cfg, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.cfg, err)
			continue
		}
		var got []string
		for _, w := range c.Warnings {
			got = append(got, w.String())
		}
		if tc.warn == "" && len(got) > 0 || tc.warn != "" && (len(got) == 0 || got[0] != tc.warn) {
			t.Errorf("%q:\n warnings %q\n want     %q", tc.cfg, got, tc.warn)
		}
	}
}
