package config

import (
	"errors"
	"testing"
	"time"
)

func TestParseStatsSockets(t *testing.T) {
	c, err := parse(t, `global
    stats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners
    stats socket ipv4@127.0.0.1:9999 level user maxconn 3 user haproxy
    stats socket unix@rel.sock
    stats timeout 2m
    stats maxconn 5
    stats bind-process all
listen l
    bind :1
`)
	if err != nil {
		t.Fatal(err)
	}
	st := c.Global.Stats
	if st.Timeout != 2*time.Minute || st.MaxConn != 5 || len(st.Sockets) != 3 {
		t.Fatalf("stats = %+v", st)
	}
	want := []StatsSocket{
		{Network: "unix", Addr: "/run/haproxy/admin.sock", Mode: 0o660, Level: LevelAdmin, ExposeFD: true, Where: Where{"cfg", 2}},
		{Network: "tcp", Addr: "127.0.0.1:9999", Level: LevelUser, MaxConn: 3, Where: Where{"cfg", 3}},
		{Network: "unix", Addr: "rel.sock", Level: LevelOperator, Where: Where{"cfg", 4}},
	}
	for i, w := range want {
		if st.Sockets[i] != w {
			t.Errorf("socket %d = %+v, want %+v", i, st.Sockets[i], w)
		}
	}
	d, err := parse(t, "listen l\n bind :1\n")
	if err != nil {
		t.Fatal(err)
	}
	if s := d.Global.Stats; s.Timeout != DefaultStatsTimeout || s.MaxConn != DefaultStatsMaxConn || len(s.Sockets) != 0 {
		t.Errorf("default stats = %+v", s)
	}
}

// Errors follow haproxy -c's wording where it has one (HAProxy 2.6).
func TestParseStatsErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{"global\n stats socket /x level foo\n", `cfg:2: 'stats socket': 'level' only supports 'user', 'operator', and 'admin' (got 'foo')`},
		{"global\n stats socket\n", `cfg:2: 'stats socket' in global section expects an address or a path to a UNIX socket`},
		{"global\n stats socket /x bogus\n", `cfg:2: 'stats socket': unknown keyword "bogus"`},
		{"global\n stats socket /x mode 999\n", `cfg:2: 'stats socket': 'mode' expects an octal permission (got '999')`},
		{"global\n stats socket /x expose-fd all\n", `cfg:2: 'stats socket': 'expose-fd' only supports 'listeners' (got 'all')`},
		{"global\n stats socket /x level\n", `cfg:2: 'stats socket': 'level' expects an argument`},
		{"global\n stats socket /x ssl\n", `cfg:2: 'stats socket': 'ssl' (TLS) is not supported`},
		{"global\n stats socket abns@x\n", `cfg:2: 'stats socket': address 'abns@x' is not supported (a UNIX socket path or a TCP host:port)`},
		{"global\n stats socket 127.0.0.1:1,127.0.0.1:2\n", `cfg:2: 'stats socket': '127.0.0.1:1,127.0.0.1:2' names several addresses; use one per 'stats socket' line`},
		{"global\n stats timeout\n", `cfg:2: 'stats timeout' expects a positive delay in milliseconds`},
		{"global\n stats timeout 0\n", `cfg:2: 'stats timeout' expects a positive delay in milliseconds`},
		{"global\n stats maxconn 0\n", `cfg:2: 'stats maxconn' expects a positive value`},
		{"global\n stats frob\n", `cfg:2: 'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got 'frob')`},
		// The HTTP statistics page: one line that says why and what instead.
		{"listen stats\n bind :8404\n mode http\n stats enable\n stats uri /\n", `cfg:3: mode http is not supported: this proxy implements mode tcp only, so the HTTP statistics page ('stats' at line 4) is not served; use 'stats socket' in the global section for the runtime API`},
		{"listen web\n bind :80\n mode http\nlisten stats\n stats enable\n", `cfg:3: mode http is not supported: this proxy implements mode tcp only`},
	} {
		_, err := parse(t, tc.cfg+"listen z\n bind :9\n")
		var pe *Error
		if !errors.As(err, &pe) || err.Error() != tc.want {
			t.Errorf("%q:\n got  %v\n want %s", tc.cfg, err, tc.want)
		}
	}
}
