package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestErrorsOneLine: every kind of configuration error is one line
// "file:line: message" at the line that holds the mistake, and quotes the
// keyword or word at fault as HAProxy does, 'like this', but for the
// unknown keyword, which CONTRACT.md writes unknown keyword "x".
var contractKeyword = regexp.MustCompile(`unknown keyword "[^"]*"`)

func TestErrorsOneLine(t *testing.T) {
	const fe = "frontend f\n bind :1\n timeout client 1s\n default_backend b\n"
	const be = "backend b\n timeout connect 1s\n timeout server 1s\n server s 1.2.3.4:5\n"
	for _, tc := range []struct {
		cfg   string
		line  int
		quote string // must appear as 'quote'
	}{
		// Sections and keywords.
		{"frob 1\n", 1, "frob"},
		{"global\n frob\n", 2, "frob"},
		{"global\n frob\n", 2, "global"},
		{fe + " frob\n" + be, 5, "frob"},
		{fe + " frob\n" + be, 5, "frontend"},
		{"frontend f@x\n bind :1\n", 1, "@"},
		{"frontend f x\n bind :1\n", 1, "x"},
		{"frontend f\n bind :1\nfrontend f\n", 3, "f"},
		{fe + be + " daemon\n", 9, "daemon"},
		{fe + " server s 1.2.3.4:5\n" + be, 5, "server"},
		{fe + " filter trace\n" + be, 5, "filter"},
		{fe + " source 1.2.3.4\n" + be, 5, "source"},
		// Proxy keywords.
		{fe + " mode frob\n" + be, 5, "frob"},
		{fe + be + " balance frob\n", 9, "frob"},
		{fe + be + " balance uri\n", 9, "uri"},
		{fe + be + " balance roundrobin x\n", 9, "x"},
		{fe + " timeout frob 1s\n" + be, 5, "frob"},
		{fe + " timeout client soon\n" + be, 5, "soon"},
		{fe + " option frob\n" + be, 5, "frob"},
		{fe + be + " option mysql-check frob\n", 9, "frob"},
		{fe + be + " hash-type frob\n", 9, "hash-type"},
		{fe + " maxconn x\n" + be, 5, "x"},
		{fe + " use_backend %[frob] if TRUE\n" + be, 5, "frob"},
		{"frontend f\n bind :1\n default_backend nope\n", 3, "nope"},
		{"frontend f\n bind :1\n use_backend nope if TRUE\n", 3, "nope"},
		{fe + " acl a frob x\n" + be, 5, "frob"},
		{fe + " acl a req.len abc\n" + be, 5, "abc"},
		{fe + " acl a req.ssl_sni -m frob x\n" + be, 5, "frob"},
		{fe + " acl a req.ssl_sni,frob x\n" + be, 5, "frob"},
		{fe + " acl a req.ssl_sni -m reg (\n" + be, 5, "("},
		{fe + " tcp-request frob\n" + be, 5, "frob"},
		{fe + " tcp-request content frob\n" + be, 5, "frob"},
		{fe + " tcp-request content accept foo\n" + be, 5, "foo"},
		{fe + " tcp-request inspect-delay x\n" + be, 5, "x"},
		{fe + " tcp-request content reject if nosuchacl\n" + be, 5, "nosuchacl"},
		{fe + " tcp-request connection track-sc0 src table nope\n" + be, 5, "nope"},
		{fe + be + " stick frob\n", 9, "stick"},
		{fe + be + " stick-table type frob size 1\n", 9, "frob"},
		{fe + be + " stick-table type ip size 1 store frob\n", 9, "frob"},
		{fe + be + " tcp-check frob\n", 9, "frob"},
		// bind and server lines.
		{"frontend f\n bind :1 frob\n", 2, "frob"},
		{"frontend f\n bind :1 interface eth0\n", 2, "interface"},
		{"frontend f\n bind unix@/x\n", 2, "unix@/x"},
		{"frontend f\n bind :1 ssl\n", 2, "crt"},
		{"frontend f\n bind :1 ssl crt /nonexistent.pem\n", 2, "/nonexistent.pem"},
		{"frontend f\n bind :1 ssl crt /x.pem verify frob\n", 2, "frob"},
		{"frontend f\n bind :1 alpn\n", 2, "alpn"},
		{"frontend f\n bind :1 curves X25519\n", 2, "curves"},
		{"frontend f\n bind :1 ciphersuites NOPE\n", 2, "NOPE"},
		{"frontend f\n bind :1 ciphers NOPE\n", 2, "NOPE"},
		{fe + "backend b\n server s 1.2.3.4:5 frob\n", 6, "frob"},
		{fe + "backend b\n server s 1.2.3.4:5 frob\n", 6, "server b/s"},
		{fe + "backend b\n server s nowhere:xyz\n", 6, "nowhere:xyz"},
		{fe + "backend b\n server s 1.2.3.4:5\n server s 1.2.3.4:6\n", 7, "server b/s"},
		{fe + "backend b\n server s 1.2.3.4:5 port 0\n", 6, "0"},
		{fe + "backend b\n server s 1.2.3.4:5 ssl\n", 6, "server b/s"},
		{fe + "backend b\n server s 1.2.3.4:5 socks4 1.2.3.4:1080\n", 6, "socks4"},
		{fe + "backend b\n server s 1.2.3.4:5 sni frob(x)\n", 6, "frob"},
		{fe + "backend b\n default-server id 3\n", 6, "id"},
		// Global.
		{"global\n maxconn x\n", 2, "x"},
		{"global\n tune.bufsize x\n", 2, "x"},
		{"global\n ssl-server-verify maybe\n", 2, "ssl-server-verify"},
		{"global\n ssl-default-bind-options frob\n", 2, "frob"},
		{"global\n stats socket /x frob\n", 2, "frob"},
		{"global\n stats socket udp@1.2.3.4:5\n", 2, "udp@1.2.3.4:5"},
		{"global\n stats frob\n", 2, "frob"},
		{"global\n maxconn \"unterminated\n", 2, ""},
	} {
		_, err := parse(t, tc.cfg)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("%q: error %v, want a *config.Error", tc.cfg, err)
			continue
		}
		msg := err.Error()
		if prefix := fmt.Sprintf("cfg:%d: ", tc.line); !strings.HasPrefix(msg, prefix) || pe.Line != tc.line {
			t.Errorf("%q: %q does not start with %q", tc.cfg, msg, prefix)
		}
		if strings.ContainsAny(msg, "\n\r") {
			t.Errorf("%q: %q is not one line", tc.cfg, msg)
		}
		// The unknown keyword itself is in double quotes, as the CLI
		// contract fixes it (unknown keyword "x"); every other word in
		// HAProxy's single quotes.
		contract := fmt.Sprintf("unknown keyword %q", tc.quote)
		if tc.quote != "" && !strings.Contains(msg, "'"+tc.quote+"'") && !strings.Contains(msg, contract) {
			t.Errorf("%q: %q does not quote '%s'", tc.cfg, msg, tc.quote)
		}
		if rest := contractKeyword.ReplaceAllString(msg, ""); strings.Contains(rest, `"`) && !strings.Contains(tc.cfg, `"`) {
			t.Errorf("%q: %q quotes with \" (HAProxy quotes with ')", tc.cfg, msg)
		}
	}
}
