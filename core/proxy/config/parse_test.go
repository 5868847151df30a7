package config

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, text string) (*Config, error) {
	t.Helper()
	return Parse([]File{{Name: "cfg", Data: []byte(text)}}, Options{})
}

// The anchor config used by the perf harness (research/proxy-anchors.md)
// must load unchanged.
const anchorCfg = `
global
    maxconn 4000
    nbthread 2
defaults
    mode tcp
    timeout connect 5s
    timeout client  30s
    timeout server  30s
listen tput
    bind 127.0.0.1:8101
    server s1 127.0.0.1:5201
listen lat
    bind 127.0.0.1:8102
    server s1 127.0.0.1:11111
`

func TestParseAnchorConfig(t *testing.T) {
	c, err := parse(t, anchorCfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Global.MaxConn != 4000 || c.Global.BufSize != DefaultBufSize {
		t.Errorf("global = %+v", c.Global)
	}
	if len(c.Frontends) != 2 || len(c.Backends) != 2 {
		t.Fatalf("got %d frontends %d backends", len(c.Frontends), len(c.Backends))
	}
	fe := c.Frontends[0]
	if fe.Name != "tput" || fe.Binds[0].Addr != "127.0.0.1:8101" || fe.DefaultBackend != c.Backends[0] {
		t.Errorf("frontend = %+v", fe)
	}
	if fe.Timeouts.Client != 30*time.Second || c.Backends[0].Timeouts.Connect != 5*time.Second {
		t.Errorf("timeouts fe=%+v be=%+v", fe.Timeouts, c.Backends[0].Timeouts)
	}
	s := c.Backends[0].Servers[0]
	if s.Name != "s1" || s.Addr(netip.AddrPort{}) != "127.0.0.1:5201" || s.Weight != 1 || s.Rise != 2 || s.Fall != 3 || s.Inter != 2*time.Second {
		t.Errorf("server = %+v", s)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %v", c.Warnings)
	}
}

func TestParseFull(t *testing.T) {
	c, err := parse(t, `
global
    tune.bufsize 32768
    hard-stop-after 10s
    log stderr local0
    stats socket /run/haproxy.sock mode 660
    daemon
defaults
    mode tcp
    option tcplog
    option dontlognull
    retries 2
    option redispatch
    timeout connect 500ms
    timeout client 1m
    timeout server 1m
    timeout client-fin 2s
    timeout server-fin 3s
    timeout queue 4s
    timeout tunnel 1h
    default-server inter 1s fall 2
frontend fe
    bind :8000,[::1]:8001-8002 accept-proxy
    bind ipv6@:8003 accept-proxy
    maxconn 100
    acl internal src 10.0.0.0/8 192.168.0.0/255.255.0.0
    acl internal src 2001:db8::/32
    acl bad src 10.9.9.9
    tcp-request connection reject if bad
    tcp-request connection accept if internal
    tcp-request connection reject
    use_backend be2 if internal !bad || LOCALHOST
    default_backend be1
    option splice-auto
backend be1
    balance leastconn
    server a 127.0.0.1:9000 check inter 500ms rise 3 weight 10 maxconn 5 send-proxy
    server b 127.0.0.1:9001 check send-proxy-v2 backup disabled
    server c localhost check port 8080 addr 127.0.0.2
backend be2
    balance source
    no option redispatch
    default-server weight 7
    server x [::1]:9100
`)
	if err != nil {
		t.Fatal(err)
	}
	g := c.Global
	if g.BufSize != 32768 || g.HardStopAfter != 10*time.Second || !g.Log {
		t.Errorf("global = %+v", g)
	}
	fe := c.Frontends[0]
	var addrs []string
	for _, b := range fe.Binds {
		addrs = append(addrs, b.Addr)
		if !b.AcceptProxy {
			t.Errorf("bind %s: accept-proxy lost", b.Addr)
		}
	}
	if got := strings.Join(addrs, " "); got != "0.0.0.0:8000 [::1]:8001 [::1]:8002 [::]:8003" {
		t.Errorf("binds = %s", got)
	}
	if fe.MaxConn != 100 || !fe.TCPLog || !fe.SpliceAuto || fe.Timeouts.ClientFin != 2*time.Second {
		t.Errorf("frontend = %+v", fe)
	}
	if len(fe.TCPRules) != 3 || fe.TCPRules[0].Action != Reject || fe.TCPRules[2].Cond != nil {
		t.Errorf("rules = %+v", fe.TCPRules)
	}
	for _, tc := range []struct {
		src      string
		internal bool
	}{{"10.1.2.3", true}, {"192.168.7.7", true}, {"2001:db8::1", true}, {"::ffff:10.0.0.1", true}, {"11.0.0.1", false}} {
		if got := fe.TCPRules[1].Cond.Match(netip.MustParseAddr(tc.src)); got != tc.internal {
			t.Errorf("internal(%s) = %v", tc.src, got)
		}
	}
	ub := fe.UseBackends[0]
	if ub.Backend.Name != "be2" || !ub.Cond.Match(netip.MustParseAddr("10.0.0.1")) || ub.Cond.Match(netip.MustParseAddr("10.9.9.9")) ||
		!ub.Cond.Match(netip.MustParseAddr("127.0.0.1")) || ub.Cond.Match(netip.MustParseAddr("8.8.8.8")) {
		t.Errorf("use_backend cond wrong: %+v", ub)
	}
	be1, be2 := c.Backend("be1"), c.Backend("be2")
	if be1.Balance != LeastConn || be1.Retries != 2 || !be1.Redispatch || be1.Timeouts.ServerFin != 3*time.Second || be1.Timeouts.Queue != 4*time.Second || be1.Timeouts.Tunnel != time.Hour {
		t.Errorf("be1 = %+v", be1)
	}
	a, b, cc := be1.Servers[0], be1.Servers[1], be1.Servers[2]
	if !a.Check || a.Inter != 500*time.Millisecond || a.Rise != 3 || a.Fall != 2 || a.Weight != 10 || a.MaxConn != 5 || a.SendProxy != 1 {
		t.Errorf("a = %+v", a)
	}
	if b.SendProxy != 2 || !b.Backup || !b.Disabled || b.Inter != time.Second {
		t.Errorf("b = %+v", b)
	}
	if cc.CheckTarget() != "127.0.0.2:8080" || a.CheckTarget() != "127.0.0.1:9000" {
		t.Errorf("check targets %q %q", cc.CheckTarget(), a.CheckTarget())
	}
	if cc.Addr(netip.MustParseAddrPort("1.2.3.4:5555")) != "localhost:5555" {
		t.Errorf("port-less server addr = %s", cc.Addr(netip.MustParseAddrPort("1.2.3.4:5555")))
	}
	if be2.Balance != Source || be2.Redispatch || be2.Servers[0].Weight != 7 || be2.Servers[0].Addr(netip.AddrPort{}) != "[::1]:9100" {
		t.Errorf("be2 = %+v %+v", be2, be2.Servers[0])
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{"frontend f\n bind :1\n frobnicate\n", `cfg:3: unknown keyword "frobnicate" in 'frontend' section`},
		{"backend b\n\n\n frobnicate x\n", `cfg:4: unknown keyword "frobnicate" in 'backend' section`},
		{"global\n frob\n", `cfg:2: unknown keyword "frob" in 'global' section`},
		{"maxconn 1\n", `cfg:1: unknown keyword "maxconn" out of section`},
		{"defaults\n mode http\n", "cfg:2: mode http is not supported: this proxy implements mode tcp only"},
		{"listen l\n bind :1\n timeout client 10x\n", `cfg:3: timeout client: invalid time '10x': unknown unit 'x' (us, ms, s, m, h, d)`},
		{"listen l\n bind :1\n timeout client 3000000s\n", `cfg:3: timeout client: timer overflow in '3000000s': the largest time is 2147483647ms`},
		{"listen l\n bind :1\n timeout frob 1s\n", `cfg:3: unknown timeout 'frob' (connect, client, server, tunnel, queue, client-fin, server-fin, check)`},
		{"frontend f\n bind :1\n default_backend nope\n", `cfg:3: frontend 'f': unable to find required default_backend 'nope'`},
		{"frontend f\n bind :1\n use_backend nope\n", `cfg:3: frontend 'f': unable to find required use_backend 'nope'`},
		{"frontend f\n bind :1\n tcp-request connection reject if nope\n", `cfg:3: tcp-request connection reject: no such ACL: 'nope'`},
		{"frontend f\n bind :1\n tcp-request connection frob\n", `cfg:3: tcp-request connection: action 'frob' is not supported (accept, reject, sc-inc-gpc0, silent-drop, track-sc0, track-sc1 or track-sc2)`},
		{"frontend f\n bind :1\n tcp-request content track-sc0 src\n", `cfg:3: Proxy 'f': unable to find table 'f' referenced by track-sc0.`},
		{"frontend f\n bind :1\n acl a src 10.0.0.300\n", `cfg:3: acl 'a': invalid address '10.0.0.300'`},
		{"frontend f\n acl a hdr(host) x\n", `cfg:2: acl 'a': unknown fetch method 'hdr' in ACL expression 'hdr(host)'`},
		{"frontend f\n mode tcp\n", `cfg: configuration has no listener (no 'bind' in any frontend or listen section)`},
		{"frontend f\n bind :1\n server s 1.2.3.4:5\n", `cfg:3: 'server' not allowed because frontend 'f' has no backend capability`},
		{"backend b\n server s 1.2.3.4:80 port 0\n", `cfg:2: 'server b/s': port: invalid port '0'`},
		{"frontend f\n bind 1.2.3.4\n", `cfg:2: bind: bind address '1.2.3.4': missing port`},
		{"frontend f\n bind :99999\n", `cfg:2: bind: bind address ':99999': invalid port '99999'`},
		{"frontend f\n bind :1 ssl crt x.pem\n", `cfg:2: bind: unable to stat SSL certificate from file 'x.pem' : No such file or directory.`},
		{"frontend f\n bind :1 frob\n", `cfg:2: bind: unknown keyword "frob"`},
		{"backend b\n server s 1.2.3.4:80 frob\n", `cfg:2: 'server b/s': unknown keyword "frob"`},
		{"backend b\n server s 1.2.3.4:80 weight 300\n", `cfg:2: 'server b/s': weight: invalid number '300' (expects an integer from 0 to 256)`},
		{"backend b\n server s 1.2.3.4:80 inter\n", `cfg:2: 'server b/s': 'inter' expects an argument`},
		{"backend b\n server s 1.2.3.4:80\n server s 1.2.3.5:80\n", `cfg:3: 'server b/s': duplicate name in backend 'b' (first at line 2)`},
		{"backend b\n server s unix@/x\n", `cfg:2: 'server b/s': address 'unix@/x': only TCP addresses are supported (no unix@, abns@, fd@, sockpair@, udp@)`},
		{"backend b\n balance uri\n", `cfg:2: balance 'uri' is not supported (roundrobin, static-rr, leastconn, first or source)`},
		{"backend b\nbackend b\n", `cfg:2: backend 'b' has the same name as another backend`},
		{"listen b\n bind :1\nbackend b\n", `cfg:3: backend 'b' has the same name as another listen`},
		{"defaults\n bind :1\n", "cfg:2: 'bind' is not supported in a defaults section"},
		{"defaults\n server s 1.2.3.4:5\n", "cfg:2: 'server' is not supported in a defaults section"},
		{"defaults\n option frob\n", `cfg:2: unknown option 'frob'`},
		{"global\n tune.bufsize 12q\n", `cfg:2: tune.bufsize: invalid size '12q'`},
		{"global\n maxconn \"unterminated\n", `cfg:2: unmatched quote (")`},
	} {
		_, err := parse(t, tc.cfg)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("%q: err = %v, want *Error", tc.cfg, err)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("%q:\n got  %s\n want %s", tc.cfg, err, tc.want)
		}
	}
}

func TestParseWarnings(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{"frontend g\n timeout client 1s\nfrontend f\n bind :1\n timeout client 1s\n", `cfg:1: warning: frontend 'g' has no 'bind' directive. Please declare it as a backend if this was intended`},
		{"frontend f\n bind :1\n timeout client 1s\n balance roundrobin\n", `cfg:4: warning: 'balance' ignored because frontend 'f' has no backend capability`},
		{"listen l\n bind :1\n timeout client 1s\n timeout connect 1s\n timeout server 1s\n option httplog\n", `cfg:6: warning: option httplog not usable with proxy 'l' (needs 'mode http'); falling back to 'option tcplog'`},
		{"listen l\n bind :1\n timeout client 1s\n timeout connect 1s\n timeout server 1s\n option forwardfor\n", `cfg:6: warning: option forwardfor ignored for proxy 'l' as it requires HTTP mode`},
		{"listen l\n bind :1\n timeout client 1s\n timeout connect 1s\n timeout server 1s\n http-request deny\n", `cfg:6: warning: 'http-request' ignored for proxy 'l' as it requires HTTP mode`},
		{"frontend f\n bind :1\n", `cfg:1: warning: missing timeouts for frontend 'f': 'timeout client' is not set`},
	} {
		c, err := parse(t, tc.cfg)
		if err != nil {
			t.Errorf("%q: %v", tc.cfg, err)
			continue
		}
		if len(c.Warnings) == 0 || c.Warnings[0].String() != tc.want {
			t.Errorf("%q: warnings %v, want %s", tc.cfg, c.Warnings, tc.want)
		}
	}
}

func TestParseMultipleFiles(t *testing.T) {
	c, err := Parse([]File{
		{Name: "a.cfg", Data: []byte("global\n maxconn 10\ndefaults\n timeout client 1s\n")},
		{Name: "b.cfg", Data: []byte("frontend f\n bind 127.0.0.1:1\n default_backend b\nbackend b\n server s 127.0.0.1:2\n")},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Global.MaxConn != 10 || c.Frontends[0].Timeouts.Client != time.Second || c.Frontends[0].DefaultBackend.Name != "b" {
		t.Errorf("config = %+v", c)
	}
	_, err = Parse([]File{{Name: "a.cfg", Data: []byte("global\n")}, {Name: "b.cfg", Data: []byte("\n maxconn 1\n")}}, Options{})
	if err == nil || err.Error() != `b.cfg:2: unknown keyword "maxconn" out of section` {
		t.Errorf("section carried across files: %v", err)
	}
}

func TestSplitLine(t *testing.T) {
	env := func(k string) (string, bool) {
		if k == "PORT" {
			return "8080", true
		}
		return "", false
	}
	for _, tc := range []struct{ in, want string }{
		{"  bind :80   # comment", "bind|:80"},
		{`a "b c" 'd e' f\ g \#h`, "a|b c|d e|f g|#h"},
		{`bind "127.0.0.1:${PORT}" "$PORT" '$PORT' "$NOPE"`, "bind|127.0.0.1:8080|8080|$PORT|"},
	} {
		w, err := splitLine(tc.in, env)
		if err != nil || strings.Join(w, "|") != tc.want {
			t.Errorf("splitLine(%q) = %q, %v; want %q", tc.in, strings.Join(w, "|"), err, tc.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{{"100", 100 * time.Millisecond}, {"5s", 5 * time.Second}, {"250us", 250 * time.Microsecond}, {"2m", 2 * time.Minute}, {"1h", time.Hour}, {"1d", 24 * time.Hour}} {
		if got, err := parseTime(tc.in); err != nil || got != tc.want {
			t.Errorf("parseTime(%q) = %v, %v", tc.in, got, err)
		}
	}
	for _, bad := range []string{"", "s", "-1s", "1.5s", "1 s", "25d"} {
		if _, err := parseTime(bad); err == nil {
			t.Errorf("parseTime(%q) accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(anchorCfg)
	f.Add("frontend f\n bind :1\n stick-table type string len 8 size 1k expire 30s nopurge store conn_rate(10s),gpc0,bytes_in_rate(1s)\n tcp-request connection track-sc1 src\n tcp-request connection sc-inc-gpc0(1) if { sc1_conn_rate gt 3 }\n tcp-request content silent-drop if { src_get_gpc0(b) gt 1 }\n default_backend b\nbackend b\n stick-table type ip size 10\n stick on src table b if { sc_tracked(1) }\n server s 1.2.3.4:5\n")
	f.Add("frontend f\n bind :1-3 accept-proxy\n acl a src 1.2.3.0/24\n use_backend b if a || !a\n tcp-request connection reject unless { src ::1 }\nbackend b\n server s h:1 check inter 1s\n")
	f.Add(`global` + "\n" + ` maxconn "1${X}"` + "\n")
	f.Add("defaults\n option tcp-check\n tcp-check send PING\\r\\n\n tcp-check expect string +PONG\nlisten l\n bind :1\n balance source\n hash-type consistent\n tcp-check comment c\n tcp-check connect port 2 send-proxy\n tcp-check send-binary 0a0b\n tcp-check expect min-recv 3 ! rbinary ^0A error-status L7STS\n server a 1.2.3.4:5 check id 3 on-marked-down shutdown-sessions check-send-proxy\nbackend m\n balance first\n option mysql-check user u pre-41\n option smtpchk EHLO x\n option pgsql-check user p\n")
	f.Add("frontend f\n bind :1\n tcp-request inspect-delay 5s\n acl s req.ssl_sni -i -m end .example\n tcp-request content accept if { req.ssl_hello_type 1 }\n tcp-request content reject if { req.payload(0,4) -m bin 45564c49 } || !s\n use_backend b if { req.ssl_ver ge 3.1 } s\nbackend b\n tcp-request content reject unless { req.len 1:9 }\n server s h:1\n")
	f.Add("defaults\n timeout server 1s\n default-server fall 2 tfo\nlisten l\n bind :1 name x accept-proxy\n server a 1.2.3.4:5 weight 0 addr 1.2.3.5 port 6 slowstart 1s\n no option redispatch\n tcp-check connect\n option httplog\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse([]File{{Name: "f", Data: []byte(s)}}, Options{LookupEnv: func(string) (string, bool) { return "x", true }})
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("bad error %T %q", err, err)
			}
			return
		}
		binds := 0
		for _, fe := range c.Frontends {
			binds += len(fe.Binds)
			for _, u := range fe.UseBackends {
				if u.Backend == nil {
					t.Fatal("unresolved use_backend")
				}
			}
		}
		if binds == 0 {
			t.Fatal("configuration without a listener accepted")
		}
		if c.Global.BufSize < MinBufSize {
			t.Fatal("bufsize below minimum")
		}
	})
}
