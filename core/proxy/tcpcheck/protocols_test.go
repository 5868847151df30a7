package tcpcheck

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// sent runs rs against replies (one per expect group) and returns every
// byte string sent and the result.
func runScript(t *testing.T, rs *Ruleset, now time.Time, replies ...string) ([]string, Result) {
	t.Helper()
	r := rs.Runner(16384, now)
	var sent []string
	for {
		op := r.Next()
		switch op.Kind {
		case OpConnect:
			r.Connected()
		case OpSend:
			sent = append(sent, string(op.Data))
		case OpWait:
			if len(replies) == 0 {
				r.EOF(nil)
				continue
			}
			r.Feed([]byte(replies[0]))
			replies = replies[1:]
		case OpDone:
			return sent, op.Result
		}
	}
}

func unhex(t *testing.T, s string) string {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The bytes come from HAProxy 2.6's templates in src/tcpcheck.c, written
// out here by hand (not by the code under test).
func TestProtocolRequests(t *testing.T) {
	zeros23 := strings.Repeat("00", 23)
	tests := []struct {
		name string
		rs   *Ruleset
		want string // hex
	}{
		{"redis", Redis(), hex.EncodeToString([]byte("*1\r\n$4\r\nPING\r\n"))},
		{"mysql post-41", MySQL("haproxy", false),
			"29000001" + "00820000" + "00800001" + "21" + zeros23 + hex.EncodeToString([]byte("haproxy")) + "00" + "00" + "010000" + "00" + "01"},
		{"mysql pre-41", MySQL("haproxy", true),
			"0e000001" + "0080" + "000001" + hex.EncodeToString([]byte("haproxy")) + "00" + "00" + "010000" + "00" + "01"},
		{"pgsql", PgSQL("pg"), "00000011" + "00030000" + "7573657200" + "706700" + "00"},
		{"ldap", LDAP(), "300c020101600702010304008000"},
		{"smtp", SMTP(""), hex.EncodeToString([]byte("HELO localhost\r\n"))},
		{"smtp ehlo", SMTP("EHLO example.org"), hex.EncodeToString([]byte("EHLO example.org\r\n"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sent, _ := runScript(t, tt.rs, time.Time{}, "220 ok\r\n", "250 ok\r\n", "x")
			if len(sent) != 1 || sent[0] != unhex(t, tt.want) {
				t.Fatalf("sent %x\nwant  %s", sent, tt.want)
			}
		})
	}
}

func TestSSLHelloBytes(t *testing.T) {
	now := time.Unix(0x5f5e1000, 0)
	sent, res := runScript(t, SSLHello(), now, "\x15\x03\x01\x00\x02\x02\x28")
	if !res.OK() || res.Status != L6OK {
		t.Fatalf("alert reply: %+v", res)
	}
	b := []byte(sent[0])
	want := unhex(t, "16 0300 0079 01 000075 0300 5f5e1000") + "HAPROXYSSLCHK\nHAPROXYSSLCHK\n" + unhex(t, "00 004e")
	if len(b) != 126 || !bytes.HasPrefix(b, []byte(want)) || !bytes.HasSuffix(b, []byte{0x00, 0x3a, 0x01, 0x00}) {
		t.Fatalf("hello (%d bytes) %x", len(b), b)
	}
	if _, res = runScript(t, SSLHello(), now, "HTTP/1.1 400 Bad Request\r\n"); res.OK() || res.Status != L6RSP {
		t.Fatalf("plain text reply: %+v", res)
	}
}

func TestProtocolReplies(t *testing.T) {
	greeting := unhex(t, "4a000000 0a") + "8.0.36\x00" + strings.Repeat("\x01", 0x4a-8)
	okPkt := unhex(t, "07000002 00 00 00 02 00 00 00")
	denied := unhex(t, "17000002 ff 1504") + "#28000Access denied!"
	tests := []struct {
		name    string
		rs      *Ruleset
		replies []string
		ok      bool
		status  Status
	}{
		{"redis pong", Redis(), []string{"+PONG\r\n"}, true, L7OK},
		{"redis loading", Redis(), []string{"-LOADING Redis is loading\r\n"}, false, L7STS},
		{"mysql greeting only", MySQL("", false), []string{greeting}, true, L7OK},
		{"mysql greeting in pieces", MySQL("", false), []string{greeting[:3], greeting[3:20], greeting[20:]}, true, L7OK},
		{"mysql ok", MySQL("haproxy", false), []string{greeting, okPkt}, true, L7OK},
		{"mysql access denied", MySQL("haproxy", false), []string{greeting + denied}, false, L7STS},
		{"mysql truncated", MySQL("haproxy", false), []string{greeting[:10]}, false, L7RSP},
		{"pgsql auth request", PgSQL("pg"), []string{"R\x00\x00\x00\x08\x00\x00\x00\x00"}, true, L7OK},
		{"pgsql md5 request", PgSQL("pg"), []string{"R\x00\x00\x00\x0c\x00\x00\x00\x05salt"}, true, L7OK},
		{"pgsql error", PgSQL("pg"), []string{"E\x00\x00\x00\x50SFATAL"}, false, L7RSP},
		{"ldap success", LDAP(), []string{unhex(t, "300c0201016107 0a0100 0400 0400")}, true, L7OK},
		{"ldap bad credentials", LDAP(), []string{unhex(t, "300c0201016107 0a0131 0400 0400")}, false, L7STS},
		{"ldap not ldap", LDAP(), []string{"HTTP/1.1 400 Bad Request\r\n"}, false, L7RSP},
		{"ldap long-form length", LDAP(), []string{unhex(t, "3084000000 0c0201016107 0a0100 0400 0400")}, false, L7RSP},
		{"smtp", SMTP(""), []string{"220 mx ESMTP\r\n", "250 mx\r\n"}, true, L7OK},
		{"smtp busy", SMTP(""), []string{"421 busy\r\n"}, false, L7STS},
		{"smtp garbage", SMTP(""), []string{"hello\r\n"}, false, L7RSP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, res := runScript(t, tt.rs, time.Time{}, tt.replies...)
			if res.OK() != tt.ok || res.Status != tt.status {
				t.Fatalf("result %+v, want ok=%v %v", res, tt.ok, tt.status)
			}
		})
	}
}
