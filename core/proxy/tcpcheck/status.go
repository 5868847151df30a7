// Package tcpcheck is HAProxy's tcp-check health-check engine without the
// I/O: rules (connect, send, expect, comment), the expect matchers
// (string, rstring, binary, rbinary and the protocol-specific ones of
// mysql-check and ldap-check), the rulesets that "option redis-check",
// "mysql-check", "pgsql-check", "ssl-hello-chk", "smtpchk" and
// "ldap-check" stand for (the bytes HAProxy 2.6 sends, src/tcpcheck.c),
// and a Runner: a state machine that says what the check must do next
// (connect, send, wait for bytes, done) from the events its caller feeds
// it. core/proxy drives a Runner over engine connections.
//
// Every buffer is bounded: a check keeps at most the Runner's max bytes
// of the server's reply (tune.bufsize); a full buffer counts as the last
// read, as in HAProxy (the expect decides on what it has).
package tcpcheck

import (
	"fmt"
	"strings"
)

// Status is a health-check status, HAProxy's names (the "check_status"
// column of "show stat").
type Status uint8

// Statuses. Pass reports which ones count as a successful check.
const (
	StatusUnknown Status = iota
	L4OK                 // connect succeeded (nothing else checked)
	L4TOUT               // connect timed out
	L4CON                // connect failed (refused, reset, unreachable)
	L6OK                 // TLS-level check passed (ssl-hello-chk)
	L6TOUT               // TLS-level check timed out
	L6RSP                // TLS-level check got an invalid reply
	L7OK                 // application check passed
	L7OKC                // application check conditionally passed
	L7TOUT               // application check timed out
	L7RSP                // application check got an invalid reply
	L7STS                // application check got a bad status
	SOCKERR              // local error (a write refused)
)

var statusNames = [...]string{
	StatusUnknown: "UNK", L4OK: "L4OK", L4TOUT: "L4TOUT", L4CON: "L4CON", L6OK: "L6OK", L6TOUT: "L6TOUT",
	L6RSP: "L6RSP", L7OK: "L7OK", L7OKC: "L7OKC", L7TOUT: "L7TOUT", L7RSP: "L7RSP", L7STS: "L7STS", SOCKERR: "SOCKERR",
}

// HAProxy's descriptions, used in its "Server x/y is DOWN, reason: ..."
// log line.
var statusDescs = [...]string{
	StatusUnknown: "Unknown", L4OK: "Layer4 check passed", L4TOUT: "Layer4 timeout",
	L4CON: "Layer4 connection problem", L6OK: "Layer6 check passed", L6TOUT: "Layer6 timeout",
	L6RSP: "Layer6 invalid response", L7OK: "Layer7 check passed", L7OKC: "Layer7 check conditionally passed",
	L7TOUT: "Layer7 timeout", L7RSP: "Layer7 invalid response", L7STS: "Layer7 wrong status", SOCKERR: "Socket error",
}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", s)
}

// Desc is HAProxy's description of the status ("Layer7 wrong status").
func (s Status) Desc() string {
	if int(s) < len(statusDescs) {
		return statusDescs[s]
	}
	return s.String()
}

// Pass reports whether a check ending with s counts as a success. L7OKC
// (HAProxy's conditional pass, used for a 404 with disable-on-404) is a
// pass here: nothing in tcp mode drains a server on it.
func (s Status) Pass() bool { return s == L4OK || s == L6OK || s == L7OK || s == L7OKC }

// parseStatus reads a status name of the given group for an expect
// option (ok-status, error-status, tout-status), case-insensitively as
// HAProxy does, with HAProxy's message when it is not one of them.
func parseStatus(kw, name string, allowed ...Status) (Status, error) {
	for _, s := range allowed {
		if strings.EqualFold(name, s.String()) {
			return s, nil
		}
	}
	names := make([]string, len(allowed))
	for i, s := range allowed {
		names[i] = "'" + s.String() + "'"
	}
	return 0, fmt.Errorf("'%s' only supports %s status (got '%s')", kw, orList(names), name)
}

// orList joins "'a', 'b' or 'c'".
func orList(w []string) string {
	if len(w) < 2 {
		return strings.Join(w, "")
	}
	return strings.Join(w[:len(w)-1], ", ") + " or " + w[len(w)-1]
}
