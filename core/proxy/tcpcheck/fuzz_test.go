package tcpcheck

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// FuzzExpect parses an expect rule (words separated by spaces) and
// evaluates it on arbitrary bytes at every prefix: no panic, a final read
// never waits, a verdict never flips from pass to wait as bytes grow, and
// a plain "string" pattern present in the reply passes.
func FuzzExpect(f *testing.F) {
	f.Add("string +PONG", []byte("+PONG\r\n"))
	f.Add("! string -ERR", []byte("+OK\r\n"))
	f.Add("rstring ^2[0-9]{2}[ \r] min-recv 4", []byte("220 mx\r\n"))
	f.Add("rbinary ^1[56] min-recv 5", []byte("\x16\x03\x03\x00\x40"))
	f.Add("binary 2b504f4e47 error-status L7STS", []byte("x+PONG"))
	f.Add("min-recv 9 rbinary ^52000000(08|0A|0C)000000(00|02|03|04|05|06)", []byte("R\x00\x00\x00\x08\x00\x00\x00\x00"))
	f.Add("!!rstring role:(master|slave) comment x", []byte("role:slave"))
	f.Fuzz(func(t *testing.T, line string, data []byte) {
		e, err := ParseExpect(strings.Fields(line))
		if err != nil {
			return
		}
		for i := 0; i <= len(data); i++ {
			v, st, _ := e.Eval(data[:i], true)
			if v == Wait {
				t.Fatalf("final read waits at %d", i)
			}
			if v == Fail && st.Pass() {
				t.Fatalf("failure with a passing status %v", st)
			}
			e.Eval(data[:i], false)
		}
		if e.Kind == String && !e.Invert && bytes.Contains(data, e.bytes) {
			if v, _, _ := e.Eval(data, false); v != Continue {
				t.Fatalf("%q in %q: %v", e.Pattern, data, v)
			}
		}
	})
}

// FuzzProtocolReplies feeds arbitrary replies, cut anywhere, to the
// protocol checks with custom matchers (mysql, ldap, pgsql): no panic,
// and the check always ends.
func FuzzProtocolReplies(f *testing.F) {
	f.Add([]byte("\x4a\x00\x00\x00\x0a8.0\x00"), uint8(3))
	f.Add([]byte("\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00"), uint8(1))
	f.Add([]byte("\x30\x84\x02\x01\x01\x61\x87\x0a\x01"), uint8(7))
	f.Add([]byte("R\x00\x00\x00\x08\x00\x00\x00\x00"), uint8(2))
	f.Fuzz(func(t *testing.T, reply []byte, cut uint8) {
		for _, rs := range []*Ruleset{MySQL("", false), MySQL("u", false), LDAP(), PgSQL("u"), SMTP("")} {
			r := rs.Runner(64, time.Time{})
			c := min(int(cut), len(reply))
			parts := [][]byte{reply[:c], reply[c:]}
			for steps := 0; ; steps++ {
				if steps > 100 {
					t.Fatalf("%s never ends", rs.Name)
				}
				op := r.Next()
				if op.Kind == OpDone {
					break
				}
				switch op.Kind {
				case OpConnect:
					r.Connected()
				case OpWait:
					if len(parts) == 0 {
						r.EOF(nil)
						continue
					}
					r.Feed(parts[0])
					parts = parts[1:]
				}
			}
		}
	})
}
