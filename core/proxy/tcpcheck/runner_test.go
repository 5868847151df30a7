package tcpcheck

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// parseRules builds a ruleset from "tcp-check" lines (without the
// keyword), as the configuration parser does.
func parseRules(t testing.TB, lines ...string) *Ruleset {
	t.Helper()
	var rules []Rule
	for _, l := range lines {
		w := words(l)
		var r Rule
		var err error
		switch w[0] {
		case "connect":
			r, err = ParseConnect(w[1:])
		case "send", "send-binary":
			r, err = ParseSend(w[0], w[1:])
		case "expect":
			var e *Expect
			e, err = ParseExpect(w[1:])
			r = Rule{Action: ActExpect, Expect: e}
		case "comment":
			r = Rule{Action: ActComment, Comment: w[1]}
		}
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		rules = append(rules, r)
	}
	rs, err := NewRuleset("tcp-check", rules)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// step drives r until it needs an event; it returns the bytes sent and
// the last op.
func drive(r *Runner) (sent []string, op Op) {
	for {
		op = r.Next()
		switch op.Kind {
		case OpSend:
			sent = append(sent, string(op.Data))
			continue
		case OpConnect:
			r.Connected()
			continue
		}
		return sent, op
	}
}

// The Redis master check of issue 16: PING, INFO replication, QUIT.
func TestRunnerRedisMaster(t *testing.T) {
	rs := parseRules(t,
		`send PING\r\n`, "expect string +PONG",
		`send info\ replication\r\n`, "expect string role:master",
		`send QUIT\r\n`, "expect string +OK")
	for _, tc := range []struct {
		role string
		ok   bool
	}{{"master", true}, {"slave", false}} {
		r := rs.Runner(16384, time.Time{})
		sent, op := drive(r)
		if op.Kind != OpWait || len(sent) != 1 || sent[0] != "PING\r\n" {
			t.Fatalf("first: %q %+v", sent, op)
		}
		r.Feed([]byte("+PO"))
		if _, op = drive(r); op.Kind != OpWait {
			t.Fatalf("partial +PONG: %+v", op)
		}
		r.Feed([]byte("NG\r\n"))
		sent, op = drive(r)
		if len(sent) != 1 || sent[0] != "info replication\r\n" || op.Kind != OpWait {
			t.Fatalf("after +PONG: %q %+v", sent, op)
		}
		r.Feed([]byte("$40\r\n# Replication\r\nrole:" + tc.role + "\r\nconnected_slaves:0\r\n"))
		sent, op = drive(r)
		if !tc.ok {
			// A replica's reply never contains role:master; the check
			// waits for more, then the reply's end decides.
			if op.Kind != OpWait {
				t.Fatalf("replica: %+v", op)
			}
			r.EOF(nil)
			_, op = drive(r)
			if op.Kind != OpDone || op.Result.OK() || op.Result.Status != L7RSP || op.Result.Step != 5 {
				t.Fatalf("replica result %+v", op.Result)
			}
			if !strings.Contains(op.Result.Desc, "role:master") {
				t.Errorf("desc %q", op.Result.Desc)
			}
			continue
		}
		if len(sent) != 1 || sent[0] != "QUIT\r\n" {
			t.Fatalf("after role: %q %+v", sent, op)
		}
		r.Feed([]byte("+OK\r\n"))
		r.EOF(nil)
		if _, op = drive(r); op.Kind != OpDone || !op.Result.OK() || op.Result.Status != L7OK {
			t.Fatalf("master result %+v", op)
		}
	}
}

// Consecutive expects share the reply; one that waits resumes from the
// first of them once bytes arrive.
func TestRunnerConsecutiveExpects(t *testing.T) {
	rs := parseRules(t, "expect string hello", "expect string world")
	r := rs.Runner(1024, time.Time{})
	if _, op := drive(r); op.Kind != OpWait {
		t.Fatalf("%+v", op)
	}
	r.Feed([]byte("hello "))
	if _, op := drive(r); op.Kind != OpWait {
		t.Fatalf("%+v", op)
	}
	r.Feed([]byte("world"))
	if _, op := drive(r); op.Kind != OpDone || !op.Result.OK() {
		t.Fatalf("%+v", op)
	}
}

func TestRunnerEnds(t *testing.T) {
	rs := parseRules(t, `send PING\r\n`, "expect string +PONG")
	t.Run("connect only", func(t *testing.T) {
		r := parseRules(t, "comment just-connect").Runner(1024, time.Time{})
		if _, op := drive(r); op.Kind != OpDone || op.Result.Status != L4OK {
			t.Fatalf("%+v", op)
		}
	})
	t.Run("connect failed", func(t *testing.T) {
		r := rs.Runner(1024, time.Time{})
		if op := r.Next(); op.Kind != OpConnect || !op.Connect.Implicit {
			t.Fatalf("%+v", op)
		}
		res := r.ConnectFailed(errors.New("connection refused"))
		if res.Status != L4CON || res.OK() {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("timeout while connecting", func(t *testing.T) {
		r := rs.Runner(1024, time.Time{})
		r.Next()
		if res := r.Timeout(); res.Status != L4TOUT {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("timeout in expect", func(t *testing.T) {
		r := rs.Runner(1024, time.Time{})
		drive(r)
		if res := r.Timeout(); res.Status != L7TOUT || res.Step != 3 {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("empty response", func(t *testing.T) {
		r := rs.Runner(1024, time.Time{})
		drive(r)
		r.EOF(nil)
		if _, op := drive(r); op.Result.Status != L7RSP || !strings.Contains(op.Result.Desc, "empty response") {
			t.Fatalf("%+v", op)
		}
	})
	t.Run("reset before any byte", func(t *testing.T) {
		r := rs.Runner(1024, time.Time{})
		drive(r)
		r.EOF(errors.New("connection reset by peer"))
		if _, op := drive(r); op.Result.Status != L4CON {
			t.Fatalf("%+v", op)
		}
	})
	t.Run("send larger than the buffer", func(t *testing.T) {
		r := parseRules(t, "send "+strings.Repeat("x", 64)).Runner(64, time.Time{})
		if _, op := drive(r); op.Kind != OpDone || op.Result.Status != L7RSP || !strings.Contains(op.Result.Desc, "too large") {
			t.Fatalf("%+v", op)
		}
	})
}

// A reply never grows past the buffer: a full buffer is the last read,
// and the expect decides on what it holds.
func TestRunnerBoundedReply(t *testing.T) {
	rs := parseRules(t, "expect string needle")
	r := rs.Runner(4096, time.Time{})
	drive(r)
	for range 10 {
		r.Feed(make([]byte, 1000))
	}
	if len(r.buf) != 4096 {
		t.Fatalf("kept %d bytes", len(r.buf))
	}
	if _, op := drive(r); op.Kind != OpDone || op.Result.OK() {
		t.Fatalf("full buffer without the pattern: %+v", op)
	}
}

// A second connect rule opens a new connection with a fresh reply.
func TestRunnerTwoConnects(t *testing.T) {
	rs := parseRules(t, "connect port 1", "expect string a", "connect port 2", "expect string b")
	r := rs.Runner(1024, time.Time{})
	op := r.Next()
	if op.Kind != OpConnect || op.Connect.Port != 1 {
		t.Fatalf("%+v", op)
	}
	r.Connected()
	r.Feed([]byte("a"))
	if op = r.Next(); op.Kind != OpConnect || op.Connect.Port != 2 {
		t.Fatalf("%+v", op)
	}
	r.Connected()
	if op = r.Next(); op.Kind != OpWait {
		t.Fatalf("new connection must not see the old reply: %+v", op)
	}
	r.Feed([]byte("b"))
	if op = r.Next(); op.Kind != OpDone || !op.Result.OK() {
		t.Fatalf("%+v", op)
	}
}

// A TLS connect: the handshake's timeout is L6TOUT, its failure L6RSP, a
// check ending on it L6OK.
func TestRunnerTLSConnect(t *testing.T) {
	rs := parseRules(t, "comment tls")
	r := rs.Runner(1024, time.Time{})
	r.Next()
	r.HandshakeStarted()
	if res := r.Timeout(); res.Status != L6TOUT {
		t.Fatalf("%+v", res)
	}
	r = rs.Runner(1024, time.Time{})
	r.Next()
	r.HandshakeStarted()
	if res := r.HandshakeFailed(errors.New("bad certificate")); res.Status != L6RSP || !strings.Contains(res.Desc, "bad certificate") {
		t.Fatalf("%+v", res)
	}
	r = rs.Runner(1024, time.Time{})
	r.Next()
	r.ConnectedTLS()
	if op := r.Next(); op.Kind != OpDone || op.Result.Status != L6OK {
		t.Fatalf("%+v", op)
	}
}

// rbinary on a reply trickled byte by byte: the Runner's incremental hex
// dump matches only once the whole pattern has arrived.
func TestRunnerRBinaryTrickle(t *testing.T) {
	rs := parseRules(t, "expect rbinary ^520000000800000000$")
	r := rs.Runner(1024, time.Time{})
	drive(r)
	reply := "R\x00\x00\x00\x08\x00\x00\x00\x00"
	for i := 0; i < len(reply); i++ {
		r.Feed([]byte{reply[i]})
		_, op := drive(r)
		if done := op.Kind == OpDone; done != (i == len(reply)-1) {
			t.Fatalf("after %d bytes: %+v", i+1, op)
		}
		if string(r.hexDump) != string(appendHexUpper(nil, r.buf)) {
			t.Fatalf("hex dump %q for %q", r.hexDump, r.buf)
		}
	}
	if _, op := drive(r); !op.Result.OK() {
		t.Fatalf("%+v", op)
	}
}
