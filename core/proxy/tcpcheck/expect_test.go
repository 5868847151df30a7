package tcpcheck

import (
	"strings"
	"testing"
)

func TestParseExpect(t *testing.T) {
	tests := []struct {
		line    string
		kind    Kind
		invert  bool
		minRecv int
		err     string
	}{
		{line: "string +PONG", kind: String, minRecv: -1},
		{line: "! string +PONG", kind: String, invert: true, minRecv: -1},
		{line: "!string +PONG", kind: String, invert: true, minRecv: -1},
		{line: "!!string +PONG", kind: String, minRecv: -1},
		{line: "min-recv 5 rbinary ^1[56]", kind: RBinary, minRecv: 5},
		{line: "rstring ^2[0-9]{2} min-recv 4 error-status L7STS", kind: RString, minRecv: 4},
		{line: "binary 2b504f4e47", kind: Binary, minRecv: -1},
		{line: "string role:master comment master? ok-status l7okc tout-status L6TOUT", kind: String, minRecv: -1},
		{line: "", err: "expects a pattern"},
		{line: "min-recv 4", err: "expects a pattern"},
		{line: "string", err: "expects a <pattern>"},
		{line: "string a string b", err: "only on pattern"},
		{line: "binary 2b5", err: "odd number"},
		{line: "binary zz", err: "not a hex string"},
		{line: "rstring (", err: "invalid regex"},
		{line: "min-recv x string a", err: "-1 or an integer"},
		{line: "min-recv -2 string a", err: "-1 or an integer"},
		{line: "!min-recv 3 string a", err: "[!] not supported"},
		{line: "string a ok-status L7STS", err: "'ok-status' only supports 'L4OK', 'L6OK', 'L7OK' or 'L7OKC' status (got 'L7STS')"},
		{line: "string a error-status L7OK", err: "only supports 'L4CON'"},
		{line: "string-lf %[x]", err: "log-format"},
		{line: "status-code x string a", err: "not supported"},
		{line: "frobnicate", err: "but got 'frobnicate'"},
		{line: "!", err: "pattern is required"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			e, err := ParseExpect(words(tt.line))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Kind != tt.kind || e.Invert != tt.invert || e.MinRecv != tt.minRecv {
				t.Fatalf("got kind %v invert %v min-recv %d", e.Kind, e.Invert, e.MinRecv)
			}
		})
	}
}

// Eval follows HAProxy's tcpcheck_eval_expect: wait while the pattern
// could still appear, decide at min-recv, at the end of the reply or
// when the buffer is full.
func TestExpectEval(t *testing.T) {
	tests := []struct {
		name     string
		expect   string
		buf      string
		lastRead bool
		want     Verdict
		status   Status
	}{
		{"found", "string +PONG", "+PONG\r\n", false, Continue, 0},
		{"found in the middle", "string role:master", "# Replication\r\nrole:master\r\n", false, Continue, 0},
		{"shorter than the pattern", "string +PONG", "+PO", false, Wait, 0},
		{"mismatch waits without min-recv", "string +PONG", "-ERR unknown\r\n", false, Wait, 0},
		{"mismatch at the end fails", "string +PONG", "-ERR unknown\r\n", true, Fail, L7RSP},
		{"empty at the end fails", "string +PONG", "", true, Fail, L7RSP},
		{"mismatch at min-recv is final", "min-recv 4 string +PO", "-ERR", false, Fail, L7RSP},
		{"min-recv not reached waits", "min-recv 8 string +PO", "+PONG", false, Wait, 0},
		{"inverted match fails", "! string -ERR", "-ERR x", false, Fail, L7RSP},
		{"inverted mismatch waits", "! string -ERR", "+OK", false, Wait, 0},
		{"inverted mismatch at the end passes", "! string -ERR", "+OK", true, Continue, 0},
		{"error-status", "string +PONG error-status L7STS", "-ERR", true, Fail, L7STS},
		{"rstring anchored", `rstring ^2[0-9]{2}[\ \r]`, "220 mail ESMTP\r\n", false, Continue, 0},
		{"rstring anchored mismatch", `rstring ^2[0-9]{2}[\ \r] min-recv 4`, "554 no\r\n", false, Fail, L7RSP},
		{"binary", "binary 2B504F4E47", "x+PONG", false, Continue, 0},
		{"rbinary on the hex dump", "rbinary ^1[56] min-recv 5", "\x15\x03\x03\x00\x02\x02\x46", false, Continue, 0},
		{"rbinary upper-case dump", "rbinary ^52000000(08|0A|0C)", "R\x00\x00\x00\x0c", false, Continue, 0},
		{"rbinary mismatch", "rbinary ^1[56] min-recv 5", "HTTP/1.0 400", false, Fail, L7RSP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseExpect(words(tt.expect))
			if err != nil {
				t.Fatal(err)
			}
			v, st, _ := e.Eval([]byte(tt.buf), tt.lastRead)
			if v != tt.want || (v == Fail && st != tt.status) {
				t.Fatalf("Eval = %v %v, want %v %v", v, st, tt.want, tt.status)
			}
		})
	}
}

func TestParseSendConnect(t *testing.T) {
	r, err := ParseSend("send", []string{"PING\r\n", "comment", "ping"})
	if err != nil || string(r.Send) != "PING\r\n" || r.Comment != "ping" {
		t.Fatalf("send: %+v %v", r, err)
	}
	r, err = ParseSend("send-binary", []string{"50494e470d0a"})
	if err != nil || string(r.Send) != "PING\r\n" {
		t.Fatalf("send-binary: %+v %v", r, err)
	}
	for _, bad := range [][]string{{"send"}, {"send-binary", "5"}, {"send", "x", "y"}, {"send-lf", "%[src]"}, {"send-binary-lf", "00"}} {
		if _, err := ParseSend(bad[0], bad[1:]); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	c, err := ParseConnect(strings.Fields("port 6380 addr 127.0.0.2 send-proxy linger comment c"))
	if err != nil || c.Connect.Port != 6380 || c.Connect.Addr != "127.0.0.2" || !c.Connect.SendProxy || c.Comment != "c" {
		t.Fatalf("connect: %+v %v", c, err)
	}
	for _, bad := range []string{"port 0", "port x", "addr nope", "proto h2", "frob", "port"} {
		if _, err := ParseConnect(strings.Fields(bad)); err == nil {
			t.Errorf("connect %q accepted", bad)
		}
	}
}

func TestRulesetConnectFirst(t *testing.T) {
	send, _ := ParseSend("send", []string{"x"})
	conn, _ := ParseConnect(nil)
	if _, err := NewRuleset("tcp-check", []Rule{send, conn}); err == nil || !strings.Contains(err.Error(), "first step MUST also be a 'connect'") {
		t.Fatalf("send before connect: %v", err)
	}
	rs, err := NewRuleset("tcp-check", []Rule{{Action: ActComment, Comment: "c"}, conn, send})
	if err != nil || rs.Rules[0].Action != ActComment || len(rs.Rules) != 3 {
		t.Fatalf("comment then connect: %+v %v", rs, err)
	}
	rs, err = NewRuleset("tcp-check", []Rule{send})
	if err != nil || len(rs.Rules) != 2 || !rs.Rules[0].Connect.Implicit {
		t.Fatalf("implicit connect: %+v %v", rs, err)
	}
}

// words splits a test line on spaces; "\ " is a space inside a word and
// "\r", "\n" are CR and LF, as in a configuration line.
func words(s string) []string {
	var out []string
	var cur strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'r':
				cur.WriteByte('\r')
			case 'n':
				cur.WriteByte('\n')
			default:
				cur.WriteByte(s[i])
			}
			in = true
		case c == ' ':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}
