package config

import (
	"errors"
	"strings"
	"testing"
)

// Every entry of the keyword tables says exactly one thing about its line.
func TestKeywordTablesWellFormed(t *testing.T) {
	for _, k := range append(append([]keyword{}, globalKeywords...), proxyKeywords...) {
		n := 0
		for _, set := range []bool{k.parse != nil, k.warn != "", k.fail != "", k.ignore} {
			if set {
				n++
			}
		}
		if n != 1 || k.in == 0 || (k.in&inGlobal != 0) == (k.in&inProxy != 0) {
			t.Errorf("keyword %q: %d actions, sections %b", k.name, n, k.in)
		}
		if (k.warn != "" && !strings.Contains(k.warn, "%[1]")) || (k.fail != "" && !strings.Contains(k.fail, "%[1]")) {
			t.Errorf("keyword %q: its text does not name it", k.name)
		}
	}
	for name, o := range options {
		n := 0
		for _, set := range []bool{o.set != nil, o.parse != nil, o.warn != "", o.ignore} {
			if set {
				n++
			}
		}
		if n != 1 || o.in == 0 {
			t.Errorf("option %q: %+v", name, o)
		}
	}
	for name, o := range serverOpts {
		if o.set == nil && o.warn == "" && o.fail == "" && !o.ignore {
			t.Errorf("server keyword %q does nothing", name)
		}
	}
	for name, o := range bindOpts {
		if o.set == nil && o.warn == "" && o.fail == "" && !o.ignore {
			t.Errorf("bind keyword %q does nothing", name)
		}
	}
}

// A section keyword outside its sections: an error in defaults, a warning
// (or for server an error) in a frontend or backend without the
// capability; either names the keyword and its line.
func TestKeywordOutsideItsSections(t *testing.T) {
	heads := map[string]string{"defaults": "defaults\n", "frontend": "frontend p\n", "backend": "backend p\n"}
	for _, k := range proxyKeywords {
		for kind, head := range heads {
			if k.in&kindSecs(kind) != 0 {
				continue
			}
			cfg := head + " " + k.name + " x y\nlisten z\n bind :9\n"
			c, err := parse(t, cfg)
			var msg string
			switch {
			case err != nil:
				msg = err.Error()
				if kind != "defaults" && !k.strict {
					t.Errorf("%q: error %v, want a warning", cfg, err)
				}
			case len(c.Warnings) > 0:
				msg = c.Warnings[0].String()
				if kind == "defaults" || k.strict {
					t.Errorf("%q: warning %s, want an error", cfg, msg)
				}
			default:
				t.Errorf("%q: accepted silently", cfg)
				continue
			}
			if !strings.HasPrefix(msg, "cfg:2: ") || !strings.Contains(msg, k.name) {
				t.Errorf("%q: %q does not name the line and the keyword", cfg, msg)
			}
		}
	}
}

// A listen section has both capabilities: no keyword meant for a frontend
// or a backend is refused or warned about there for its section.
func TestListenHasBothCapabilities(t *testing.T) {
	c, err := parse(t, `listen l
    bind :1
    maxconn 10
    default_backend l
    balance leastconn
    retries 1
    default-server weight 3
    server s 127.0.0.1:2
    timeout client 1s
    timeout server 1s
    timeout connect 1s
    option redispatch
    acl a src 10.0.0.0/8
    use_backend l if a
    tcp-request connection reject if a
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 0 {
		t.Fatalf("warnings: %v", c.Warnings)
	}
	fe, be := c.Frontends[0], c.Backends[0]
	if fe.MaxConn != 10 || be.Balance != LeastConn || be.Retries != 1 || be.Servers[0].Weight != 3 || !be.Redispatch ||
		fe.Timeouts.Client != be.Timeouts.Client || be.Timeouts.Connect == 0 || len(fe.TCPRules) != 1 || len(fe.UseBackends) != 1 {
		t.Errorf("fe %+v be %+v", fe, be)
	}
}

// Keywords the tables accept and ignore, warn about, or refuse, with the
// exact HAProxy-style texts. Where a name exists in the global and in
// proxy sections, each section gets its own entry.
func TestKeywordTexts(t *testing.T) {
	const tail = "listen z\n bind :9\n timeout client 1s\n timeout connect 1s\n timeout server 1s\n"
	for _, tc := range []struct{ cfg, warn, err string }{
		// tcp-check is a tcp-mode feature (issue #16), not an HTTP one:
		// texts checked against haproxy 2.6 -c.
		{cfg: "backend b\n option tcp-check\n tcp-check connect\n"},
		{cfg: "backend b\n option tcp-check\n tcp-check comment c\n tcp-check connect\n tcp-check send x\n tcp-check connect port 2\n"},
		{cfg: "frontend f\n bind :1\n timeout client 1s\n tcp-check connect\n", warn: `cfg:4: warning: 'tcp-check' ignored because frontend 'f' has no backend capability`},
		{cfg: "backend b\n tcp-check send x\n", warn: `cfg:2: warning: backend 'b' uses tcp-check rules without 'option tcp-check', so the rules are ignored`},
		{cfg: "backend b\n option httpchk\n", warn: `cfg:2: warning: option httpchk is not supported; health checks fall back to a TCP connect check`},
		{cfg: "backend b\n option tcp-check\n tcp-check send x\n tcp-check connect\n", err: `cfg:4: 'tcp-check connect' : first step MUST also be a 'connect', optionally preceded by a 'set-var', an 'unset-var' or a 'comment', when there is a 'connect' step in the tcp-check ruleset`},
		{cfg: "backend b\n option tcp-check\n tcp-check frob\n", err: `cfg:3: 'tcp-check' only supports 'comment', 'connect', 'send', 'send-binary', 'send-lf' or 'expect' but got 'frob'`},
		{cfg: "backend b\n option tcp-check\n tcp-check expect string\n", err: `cfg:3: 'tcp-check expect' : 'string' expects a <pattern> as argument`},
		{cfg: "backend b\n option tcp-check\n tcp-check connect ssl sni x.test alpn h2\n"},
		{cfg: "backend b\n option pgsql-check\n", err: `cfg:2: 'option pgsql-check' expects 'user <username>' as argument`},
		{cfg: "backend b\n option mysql-check user\n", err: `cfg:2: 'option mysql-check user' expects <username> as argument`},
		{cfg: "backend b\n option redis-check x\n", err: `cfg:2: 'option redis-check' cannot handle unexpected argument 'x'`},
		{cfg: "backend b\n hash-type consistent avalanche\n", err: `cfg:2: 'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions`},
		{cfg: "backend b\n hash-type frob\n", err: `cfg:2: 'hash-type' only supports 'consistent' and 'map-based'`},
		{cfg: "backend b\n server s 1.2.3.4:5 on-marked-down bogus\n", err: `cfg:2: 'server b/s': 'on-marked-down' expects 'shutdown-sessions' but got 'bogus'`},
		{cfg: "backend b\n server s 1.2.3.4:5 id 0\n", err: `cfg:2: 'server b/s': 'id' : custom id has to be > 0`},
		{cfg: "backend b\n server s 1.2.3.4:5 id 1\n server t 1.2.3.4:6 id 1\n", err: `cfg:3: 'server b/t': 'id' : custom id 1 already used at cfg:2 ('server s')`},
		{cfg: "backend b\n disabled\n", warn: `cfg:2: warning: 'disabled': disabled proxies are not supported; the section stays enabled`},
		{cfg: "backend b\n stats enable\n", warn: `cfg:2: warning: 'stats' ignored for proxy 'b' as it requires HTTP mode`},
		{cfg: "global\n stats socket /x\n"},
		{cfg: "global\n log-tag x\nbackend b\n log-tag y\n"},
		{cfg: "backend b\n maxconn 5\n", warn: `cfg:2: warning: 'maxconn' ignored because backend 'b' has no frontend capability`},
		{cfg: "frontend f\n bind :1\n timeout server 1s\n", warn: `cfg:3: warning: 'timeout server' ignored because frontend 'f' has no backend capability`},
		{cfg: "frontend f\n bind :1\n option redispatch\n", warn: `cfg:3: warning: 'option redispatch' ignored because frontend 'f' has no backend capability`},
		{cfg: "backend b\n tcp-request connection accept\n", warn: `cfg:2: warning: 'tcp-request connection' ignored because backend 'b' has no frontend capability`},
		{cfg: "defaults\n timeout http-request 1s\n"},
		{cfg: "defaults\n use_backend b\n", err: `cfg:2: 'use_backend' is not supported in a defaults section`},
		{cfg: "defaults\n acl a src 1.2.3.4\n", err: `cfg:2: 'acl' is not supported in a defaults section`},
		{cfg: "defaults\n tcp-request connection accept\n", err: `cfg:2: 'tcp-request' rules are not supported in a defaults section`},
		{cfg: "defaults\n timeout client x\n", err: `cfg:2: timeout client: invalid time 'x': expects a number with an optional unit (us, ms, s, m, h, d)`},
		{cfg: "backend b\n tcp-response content accept\n", err: `cfg:2: 'tcp-response' rules (response inspection) are not supported`},
		{cfg: "backend b\n contimeout 1s\n", err: `cfg:2: the 'contimeout' directive is not supported anymore since HAProxy 2.1. Use 'timeout connect'.`},
		{cfg: "backend b\n clitimeout 1s\n", err: `cfg:2: the 'clitimeout' directive is not supported anymore since HAProxy 2.1. Use 'timeout client'.`},
		{cfg: "backend b\n usesrc client\n", err: `cfg:2: 'usesrc' only allowed after a 'source' statement.`},
		{cfg: "backend b\n source 1.2.3.4\n", err: `cfg:2: 'source' (choosing the source address of server connections) is not supported`},
		{cfg: "backend b\n filter trace\n", err: `cfg:2: 'filter' (stream filters: trace, spoe, compression, cache, bwlim) is not supported`},
		{cfg: "frontend f\n bind :1\n timeout client 1s\n rate-limit sessions 10\n", warn: `cfg:4: warning: 'rate-limit' is not supported and is ignored for proxy 'f': sessions are accepted at any rate`},
		{cfg: "backend b\n persist rdp-cookie\n", warn: `cfg:2: warning: 'persist' (RDP cookie persistence) is not supported and is ignored for proxy 'b'`},
		{cfg: "global\n maxconnrate 100\n", warn: `cfg:2: warning: 'maxconnrate' is not supported and is ignored: connections are accepted at any rate`},
		{cfg: "backend b\n server s 1.2.3.4:5 slowstart 10s\n", warn: `cfg:2: warning: 'server b/s': 'slowstart' is not supported and is ignored: the server takes its full weight at once`},
		{cfg: "backend b\n server s 1.2.3.4:5 track b/x\n", warn: `cfg:2: warning: 'server b/s': 'track' is not supported and is ignored: the server's own check (or none) decides its state`},
		{cfg: "backend b\n server s 1.2.3.4:5 socks4 1.2.3.4:1080\n", err: `cfg:2: 'server b/s': 'socks4' (connecting through a SOCKS4 proxy) is not supported`},
		{cfg: "frontend f\n bind :1 namespace x\n", err: `cfg:2: bind: 'namespace' (network namespaces) is not supported`},
		{cfg: "backend b\n dispatch 1.2.3.4:5\n", err: `cfg:2: 'dispatch' (a backend address without 'server' lines) is not supported; use a 'server' line`},
		{cfg: "global\n hard-stop-after-grace 1s\n", err: `cfg:2: unknown keyword "hard-stop-after-grace" in 'global' section`},
		{cfg: "global\n balance roundrobin\n", err: `cfg:2: unknown keyword "balance" in 'global' section`},
		{cfg: "backend b\n daemon\n", err: `cfg:2: unknown keyword "daemon" in 'backend' section`},
		{cfg: "backend b\n balance\n", err: `cfg:2: 'balance' expects roundrobin, static-rr, leastconn, first or source`},
		{cfg: "backend b\n balance frob\n", err: `cfg:2: unknown balance algorithm 'frob'`},
		{cfg: "backend b\n balance source x\n", err: `cfg:2: balance source: unexpected argument 'x'`},
		{cfg: "backend b\n no optio x\n", err: `cfg:2: 'no' expects 'option'`},
		{cfg: "peers p\n peer a 1.2.3.4:5\n", warn: `cfg:1: warning: section 'peers' is not supported and is ignored`},
		// Server and default-server line keywords.
		{cfg: "backend b\n server s 1.2.3.4:5 check-ssl\n", err: `cfg:2: 'server b/s' : verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default.`},
		{cfg: "backend b\n default-server tfo\n", warn: `cfg:2: warning: default-server: 'tfo' (TCP Fast Open to the server) is not supported and is ignored`},
		{cfg: "backend b\n server s 1.2.3.4:5 id 3 init-addr none\n"},
		{cfg: "backend b\n server s 1.2.3.4:5 slowstart\n", err: `cfg:2: 'server b/s': 'slowstart' expects an argument`},
		{cfg: "backend b\n server s 1.2.3.4:5 sni x\n", err: `cfg:2: 'server b/s': error detected while parsing sni expression : unknown fetch method 'x'`},
		{cfg: "backend b\n server s 1.2.3.4:5 check-ssl verify none check-sni x.example check-alpn h2,http/1.1\n"},
		{cfg: "backend b\n server s 1.2.3.4:5 agent-check\n", err: `cfg:2: 'server b/s': 'agent-check' (agent checks) is not supported`},
		{cfg: "backend b\n server s 1.2.3.4:5 rise 0\n", err: `cfg:2: 'server b/s': rise must be at least 1`},
		{cfg: "backend b\n server s 1.2.3.4:5 fall x\n", err: `cfg:2: 'server b/s': fall: invalid number 'x' (expects an integer from 0 to 1073741824)`},
		{cfg: "backend b\n default-server downinter 0\n", err: `cfg:2: default-server: downinter must be greater than 0`},
		{cfg: "backend b\n server s 1.2.3.4:5 addr ::zz\n", err: `cfg:2: 'server b/s': addr: invalid host '::zz'`},
		// Bind line keywords.
		{cfg: "frontend f\n bind :1 name x v4v6 defer-accept\n timeout client 1s\n"},
		{cfg: "frontend f\n bind :1 backlog\n", err: `cfg:2: bind: 'backlog' expects an argument`},
		{cfg: "frontend f\n bind :1 crt-list x\n", err: `cfg:2: bind: 'crt-list' (TLS) is not supported`},
		{cfg: "frontend f\n bind :1 interface lo\n", err: `cfg:2: bind: 'interface' (binding to one network interface) is not supported`},
		{cfg: "backend b\n bind :1\n", warn: `cfg:2: warning: 'bind' ignored because backend 'b' has no frontend capability`},
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
			if !strings.Contains(w.Msg, "missing timeouts") { // not this test's subject
				got = append(got, w.String())
			}
		}
		if tc.warn == "" && len(got) > 0 || tc.warn != "" && (len(got) == 0 || got[0] != tc.warn) {
			t.Errorf("%q:\n warnings %q\n want     %q", tc.cfg, got, tc.warn)
		}
	}
}
