package suite

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"strings"
	"time"

	"github.com/netmodels/netmodels/conformance/internal/harness"
)

// Protocol checks against in-test servers written from each protocol's
// documentation. The good server accepts only the exact bytes HAProxy 2.6
// sends (src/tcpcheck.c, written out here by hand), so the haproxy column
// proves the bytes and the engine columns prove we send the same.

// protoCase runs a check option over a good and a bad server and wants
// every connection through the proxy on the good one; reached tells, from
// a client connection, whether it reached the good one.
func protoCase(id, option, desc string, good, bad func(net.Conn), reached func(net.Conn) bool) harness.Case {
	return pc(id, specChecks+" (option "+option+")", desc, func(t *harness.T, e harness.Engine) {
		g, b := newBackend(t, good), newBackend(t, bad)
		chk := " check inter 100ms fall 3 rise 1"
		p := startProxy(t, e, simpleCfg("", "", "    balance roundrobin\n    timeout check 2s\n    option "+option+"\n", b.addr()+chk, g.addr()+chk))
		one := func() bool {
			c, err := net.DialTimeout("tcp", p.Addr(0), 2*time.Second)
			if err != nil {
				return false
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			return reached(c)
		}
		if !waitFor(5*time.Second, func() bool { return one() && one() && one() && one() }) {
			t.Fatal("the bad server was never taken out (or the good one never passed)")
		}
		for i := range 6 {
			if !one() {
				t.Fatalf("connection %d did not reach the good server", i)
			}
		}
	})
}

// readExact reads len(want) bytes (3 s at most) and reports whether they
// are want.
func readExact(c net.Conn, want []byte) bool {
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	got := make([]byte, len(want))
	_, err := io.ReadFull(c, got)
	return err == nil && bytes.Equal(got, want)
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// mysqlGreeting is a protocol-10 initial handshake packet (sequence 0)
// whose server version names the server.
func mysqlGreeting(version string) []byte {
	body := append([]byte{0x0a}, version+"\x00"...)
	body = append(body, 1, 0, 0, 0)             // connection id
	body = append(body, "abcdefgh\x00"...)      // auth plugin data part 1
	body = append(body, 0x00, 0x82, 0x21, 2, 0) // capabilities, charset, status
	body = append(body, make([]byte, 13)...)
	n := len(body)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), 0}, body...)
}

var proxyProtoCheckCases = []harness.Case{
	protoCase("proxy-check-mysql", "mysql-check user haproxy",
		"option mysql-check user haproxy: the good server gets HAProxy's exact post-4.1 authentication packet and COM_QUIT and answers OK; the other answers an error packet (Access denied) and is taken out",
		func(c net.Conn) {
			defer c.Close()
			_, _ = c.Write(mysqlGreeting("5.7.0-good"))
			want := mustHex("29000001 00820000 00800001 21" + strings.Repeat("00", 23) + hex.EncodeToString([]byte("haproxy")) + "00 00 010000 00 01")
			if readExact(c, want) {
				_, _ = c.Write(mustHex("07000002 00 00 00 02 00 00 00"))
			}
			_, _ = io.Copy(io.Discard, c)
		},
		func(c net.Conn) {
			defer c.Close()
			_, _ = c.Write(mysqlGreeting("5.7.0-bad"))
			msg := "#28000Access denied for user 'haproxy'"
			pkt := append([]byte{byte(3 + len(msg)), 0, 0, 2, 0xff, 0x15, 0x04}, msg...)
			_, _ = c.Write(pkt)
			_, _ = io.Copy(io.Discard, c)
		},
		func(c net.Conn) bool {
			hdr := make([]byte, 4)
			if _, err := io.ReadFull(c, hdr); err != nil {
				return false
			}
			body := make([]byte, int(hdr[0])|int(hdr[1])<<8|int(hdr[2])<<16)
			_, err := io.ReadFull(c, body)
			return err == nil && bytes.Contains(body, []byte("-good"))
		}),
	protoCase("proxy-check-pgsql", "pgsql-check user haproxy",
		"option pgsql-check user haproxy: the good server gets HAProxy's exact startup message (protocol 3.0, user haproxy) and asks for a password (R, MD5); the other answers an error (E) and is taken out",
		func(c net.Conn) {
			defer c.Close()
			if readExact(c, pgStartup("haproxy")) {
				_, _ = c.Write([]byte("R\x00\x00\x00\x0c\x00\x00\x00\x05salt"))
			}
			_, _ = io.Copy(io.Discard, c)
		},
		func(c net.Conn) {
			defer c.Close()
			body := "SFATAL\x00C28000\x00Mno such role\x00\x00"
			_, _ = c.Write(append(binary.BigEndian.AppendUint32([]byte("E"), uint32(4+len(body))), body...))
			_, _ = io.Copy(io.Discard, c)
		},
		func(c net.Conn) bool {
			if _, err := c.Write(pgStartup("haproxy")); err != nil {
				return false
			}
			b := make([]byte, 1)
			_, err := io.ReadFull(c, b)
			return err == nil && b[0] == 'R'
		}),
	protoCase("proxy-check-smtp", "smtpchk",
		"option smtpchk: the good server greets 220, gets exactly \"HELO localhost\\r\\n\" and answers 250; the other greets 421 and is taken out",
		func(c net.Conn) {
			defer c.Close()
			_, _ = c.Write([]byte("220 good ESMTP\r\n"))
			if readExact(c, []byte("HELO localhost\r\n")) {
				_, _ = c.Write([]byte("250 good\r\n"))
			}
			_, _ = io.Copy(io.Discard, c)
		},
		func(c net.Conn) {
			defer c.Close()
			_, _ = c.Write([]byte("421 bad service not available\r\n"))
			_, _ = io.Copy(io.Discard, c)
		},
		func(c net.Conn) bool {
			line, err := bufio.NewReader(c).ReadString('\n')
			return err == nil && strings.HasPrefix(line, "220 good")
		}),
	protoCase("proxy-check-ldap", "ldap-check",
		"option ldap-check: the good server gets HAProxy's exact anonymous LDAPv3 bind request and answers success; the other answers invalidCredentials (49) and is taken out",
		ldapServer(0x00), ldapServer(0x31),
		func(c net.Conn) bool {
			if _, err := c.Write(ldapBind); err != nil {
				return false
			}
			b := make([]byte, 14)
			_, err := io.ReadFull(c, b)
			return err == nil && b[9] == 0
		}),
	protoCase("proxy-check-ssl-hello-bytes", "ssl-hello-chk",
		"option ssl-hello-chk: the good server gets HAProxy's exact 126-byte SSLv3 ClientHello (any GMT time) and answers a handshake_failure alert record; the other answers plain text and is taken out",
		func(c net.Conn) {
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			got := make([]byte, len(sslv3Hello))
			if _, err := io.ReadFull(c, got); err == nil && bytes.Equal(got[:11], sslv3Hello[:11]) && bytes.Equal(got[15:], sslv3Hello[15:]) {
				_, _ = c.Write([]byte{0x15, 0x03, 0x00, 0x00, 0x02, 0x02, 0x28})
			}
			_, _ = io.Copy(io.Discard, c)
		},
		func(c net.Conn) {
			defer c.Close()
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			_, _ = io.Copy(io.Discard, c)
		},
		func(c net.Conn) bool {
			if _, err := c.Write(sslv3Hello); err != nil {
				return false
			}
			b := make([]byte, 1)
			_, err := io.ReadFull(c, b)
			return err == nil && b[0] == 0x15
		}),
}

// pgStartup is a PostgreSQL StartupMessage, protocol 3.0, with only the
// user parameter.
func pgStartup(user string) []byte {
	body := []byte{0, 3, 0, 0}
	body = append(body, "user\x00"+user+"\x00\x00"...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(4+len(body))), body...)
}

// ldapBind is an anonymous LDAPv3 simple bind request, message id 1.
var ldapBind = mustHex("30 0c 02 01 01 60 07 02 01 03 04 00 80 00")

// ldapServer answers an exact ldapBind with a bind response of the given
// result code.
func ldapServer(code byte) func(net.Conn) {
	return func(c net.Conn) {
		defer c.Close()
		for readExact(c, ldapBind) {
			_, _ = c.Write([]byte{0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, code, 0x04, 0x00, 0x04, 0x00})
		}
	}
}

// sslv3Hello is HAProxy's ssl-hello-chk ClientHello with a zero GMT time
// (bytes 11..14): record header, handshake header, version 3.0, time, the
// 28 random bytes "HAPROXYSSLCHK\nHAPROXYSSLCHK\n", no session id, 39
// cipher suites (0x0001..0x001B, 0x002F..0x003A), null compression.
var sslv3Hello = func() []byte {
	b := mustHex("16 0300 0079 01 000075 0300 00000000")
	b = append(b, "HAPROXYSSLCHK\nHAPROXYSSLCHK\n"...)
	b = append(b, 0x00, 0x00, 0x4e)
	for cs := 0x01; cs <= 0x1b; cs++ {
		b = append(b, 0, byte(cs))
	}
	for cs := 0x2f; cs <= 0x3a; cs++ {
		b = append(b, 0, byte(cs))
	}
	return append(b, 0x01, 0x00)
}()
