package tcpcheck

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"
)

// The protocol checks of HAProxy 2.6 (src/tcpcheck.c, proxy_parse_*_opt):
// the same rules, so a server sees the same bytes as from HAProxy.

func mustExpect(args ...string) *Expect {
	e, err := ParseExpect(args)
	if err != nil {
		panic("tcpcheck: built-in expect: " + err.Error())
	}
	return e
}

func mustRuleset(name string, rules ...Rule) *Ruleset {
	rs, err := NewRuleset(name, rules)
	if err != nil {
		panic("tcpcheck: built-in ruleset: " + err.Error())
	}
	return rs
}

func expectRule(e *Expect) Rule { return Rule{Action: ActExpect, Expect: e} }

func sendRule(b []byte) Rule { return Rule{Action: ActSend, Send: b} }

func defaultConnect() Rule {
	return Rule{Action: ActConnect, Connect: Connect{Default: true, Linger: true}}
}

// Redis is "option redis-check": PING as a RESP array, +PONG expected.
func Redis() *Ruleset {
	e := mustExpect("string", "+PONG\r\n", "error-status", "L7STS", "on-success", "Redis server is ok")
	return mustRuleset("redis-check", sendRule([]byte("*1\r\n$4\r\nPING\r\n")), expectRule(e))
}

// SSLHello is "option ssl-hello-chk": HAProxy's fixed SSLv3 ClientHello
// (its GMT time field is the check's start), and a handshake (0x16) or
// alert (0x15) record back means the server speaks SSL/TLS.
func SSLHello() *Ruleset {
	e := mustExpect("rbinary", "^1[56]", "min-recv", "5", "ok-status", "L6OK", "error-status", "L6RSP", "tout-status", "L6TOUT")
	return mustRuleset("ssl-hello-chk", Rule{Action: ActSend, sendFn: sslv3ClientHello}, expectRule(e))
}

// sslv3ClientHello builds the 126-byte record (0x79 bytes after its 5-byte header) HAProxy sends.
func sslv3ClientHello(now time.Time) []byte {
	b := make([]byte, 0, 126)
	b = append(b, 0x16, 0x03, 0x00, 0x00, 0x79) // handshake record, SSLv3, 0x79 bytes
	b = append(b, 0x01, 0x00, 0x00, 0x75)       // ClientHello, 0x75 bytes
	b = append(b, 0x03, 0x00)                   // hello version SSLv3
	b = binary.BigEndian.AppendUint32(b, uint32(now.Unix()))
	b = append(b, "HAPROXYSSLCHK\nHAPROXYSSLCHK\n"...) // the 28 random bytes
	b = append(b, 0x00)                                // no session ID
	b = append(b, 0x00, 0x4e)                          // 39 cipher suites
	for c := 0x01; c <= 0x1b; c++ {
		b = append(b, 0x00, byte(c))
	}
	for c := 0x2f; c <= 0x3a; c++ {
		b = append(b, 0x00, byte(c))
	}
	return append(b, 0x01, 0x00) // one compression method: null
}

// SMTP is "option smtpchk [HELO|EHLO domain]": a 2xx greeting, then
// cmd (default "HELO localhost") answered with 2xx.
func SMTP(cmd string) *Ruleset {
	if cmd == "" {
		cmd = "HELO localhost"
	}
	return mustRuleset("smtpchk",
		defaultConnect(),
		expectRule(mustExpect("rstring", "^[0-9]{3}[ \r]", "min-recv", "4", "error-status", "L7RSP")),
		expectRule(mustExpect("rstring", "^2[0-9]{2}[ \r]", "min-recv", "4", "error-status", "L7STS")),
		sendRule([]byte(cmd+"\r\n")),
		expectRule(mustExpect("rstring", "^2[0-9]{2}[- \r]", "min-recv", "4", "error-status", "L7STS")),
	)
}

// PgSQL is "option pgsql-check user U": a startup message for user U,
// then anything but an error ("E") and an authentication request
// (R, length 8/10/12, method 0, 2..6).
func PgSQL(user string) *Ruleset {
	msg := binary.BigEndian.AppendUint32(nil, uint32(15+len(user)))
	msg = append(msg, 0x00, 0x03, 0x00, 0x00) // protocol 3.0
	msg = append(msg, "user\x00"...)
	msg = append(msg, user...)
	msg = append(msg, 0x00, 0x00)
	return mustRuleset("pgsql-check",
		defaultConnect(),
		sendRule(msg),
		expectRule(mustExpect("!rstring", "^E", "min-recv", "5", "error-status", "L7RSP")),
		expectRule(mustExpect("rbinary", "^52000000(08|0A|0C)000000(00|02|03|04|05|06)", "min-recv", "9",
			"error-status", "L7STS", "on-success", "PostgreSQL server is ok", "on-error", "PostgreSQL unknown error")),
	)
}

// MySQL is "option mysql-check [user U [post-41|pre-41]]". Without a
// user only the server's initial handshake packet is checked; with one,
// a client authentication packet and COM_QUIT are sent and an OK packet
// is expected after the handshake (an error packet, 0xff, fails).
func MySQL(user string, pre41 bool) *Ruleset {
	ini := &Expect{Kind: Custom, MinRecv: -1, custom: mysqlPacket(false)}
	if user == "" {
		return mustRuleset("mysql-check", defaultConnect(), expectRule(ini))
	}
	var body []byte
	if pre41 {
		body = append(body, 0x00, 0x80)       // client capabilities
		body = append(body, 0x00, 0x00, 0x01) // max packet
	} else {
		body = append(body, 0x00, 0x82, 0x00, 0x00) // client capabilities
		body = append(body, 0x00, 0x80, 0x00, 0x01) // max packet
		body = append(body, 0x21)                   // character set utf8
		body = append(body, make([]byte, 23)...)
	}
	body = append(body, user...)
	body = append(body, 0x00) // end of the user name
	body = append(body, 0x00) // filler
	n := len(body)
	pkt := []byte{byte(n), byte(n >> 8), byte(n >> 16), 0x01} // length, sequence 1
	pkt = append(pkt, body...)
	pkt = append(pkt, 0x01, 0x00, 0x00, 0x00, 0x01) // COM_QUIT: length 1, sequence 0
	ini.custom = mysqlPacket(true)
	ok := &Expect{Kind: Custom, MinRecv: -1, custom: mysqlOK}
	return mustRuleset("mysql-check", defaultConnect(), sendRule(pkt), expectRule(ini), expectRule(ok))
}

// mysqlPacket checks one MySQL packet at offset 0 (the initial
// handshake); more: another rule follows.
func mysqlPacket(more bool) func([]byte, bool) (Verdict, Status, string) {
	return func(b []byte, lastRead bool) (Verdict, Status, string) {
		v, st, d := mysqlAt(b, 0, lastRead)
		if v == Continue && !more {
			// The last rule: HAProxy reports the server's version.
			return Continue, L7OK, mysqlVersion(b)
		}
		return v, st, d
	}
}

// mysqlOK checks the packet that follows the initial handshake.
func mysqlOK(b []byte, lastRead bool) (Verdict, Status, string) {
	if len(b) < 4 {
		return Fail, L7RSP, "truncated response"
	}
	off := 4 + (int(b[0]) | int(b[1])<<8 | int(b[2])<<16)
	v, st, d := mysqlAt(b, off, lastRead)
	if v == Continue {
		return Continue, L7OK, mysqlVersion(b)
	}
	return v, st, d
}

// mysqlAt is HAProxy's tcpcheck_mysql_expect_packet: a whole packet must
// be there; a first byte 0xff is an error packet (code, message).
func mysqlAt(b []byte, off int, lastRead bool) (Verdict, Status, string) {
	if len(b) < off+4 {
		if !lastRead {
			return Wait, 0, ""
		}
		return Fail, L7RSP, "truncated response"
	}
	plen := int(b[off]) | int(b[off+1])<<8 | int(b[off+2])<<16
	if len(b) < off+plen+4 {
		if !lastRead {
			return Wait, 0, ""
		}
		return Fail, L7RSP, "truncated response"
	}
	if plen > 0 && b[off+4] == 0xff {
		code := 0
		msg := ""
		if plen >= 3 {
			code = int(b[off+5]) | int(b[off+6])<<8
			msg = string(b[off+7 : off+4+plen])
		}
		return Fail, L7STS, fmt.Sprintf("MySQL error %d: %s", code, msg)
	}
	return Continue, 0, ""
}

// mysqlVersion is the server version string of the initial handshake
// (after the length, the sequence and the protocol version byte).
func mysqlVersion(b []byte) string {
	if len(b) <= 5 {
		return ""
	}
	v := b[5:]
	if i := bytes.IndexByte(v, 0); i >= 0 {
		v = v[:i]
	}
	return string(v[:min(len(v), 64)])
}

// LDAP is "option ldap-check": an anonymous LDAPv3 bind request; a bind
// response with result code 0 passes.
func LDAP() *Ruleset {
	req, _ := ParseHex("300C020101600702010304008000")
	return mustRuleset("ldap-check",
		sendRule(req),
		expectRule(mustExpect("rbinary", "^30", "min-recv", "14", "on-error", "Not LDAPv3 protocol")),
		expectRule(&Expect{Kind: Custom, MinRecv: -1, custom: ldapBindResponse}),
	)
}

// ldapBindResponse is HAProxy's tcpcheck_ldap_expect_bindrsp, with bounds
// checks: BER lengths in long form of more than 2 (message) or 4 (bind
// response) bytes are "Not LDAPv3 protocol", as there.
func ldapBindResponse(b []byte, lastRead bool) (Verdict, Status, string) {
	const notLDAP = "Not LDAPv3 protocol"
	if len(b) < 2 {
		return Fail, L7RSP, notLDAP
	}
	msglen := 0
	if b[1]&0x80 != 0 {
		msglen = int(b[1] & 0x7f)
	}
	if msglen > 2 || len(b) < 7+msglen || !bytes.Equal(b[2+msglen:6+msglen], []byte{0x02, 0x01, 0x01, 0x61}) {
		return Fail, L7RSP, notLDAP
	}
	if b[msglen+6]&0x80 != 0 {
		msglen += int(b[msglen+6] & 0x7f)
	}
	if msglen > 4 || len(b) < 10+msglen || !bytes.Equal(b[7+msglen:9+msglen], []byte{0x0a, 0x01}) {
		return Fail, L7RSP, notLDAP
	}
	if code := b[msglen+9]; code != 0 {
		return Fail, L7STS, fmt.Sprintf("result code %d, see RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9", code)
	}
	return Continue, L7OK, "Success"
}
