// Package runtimeapi is HAProxy's runtime API (the "stats socket" CLI) for
// the proxy: a text protocol on a UNIX or TCP socket that operators script
// with socat or nc ("echo 'show stat' | socat stdio /run/haproxy.sock").
//
// It is an admin channel, not the data path: each socket is served by plain
// goroutines (one accept loop per socket, one goroutine per client), never
// by the proxy's engine loops. Everything it reads or changes goes through
// the Proxy interface, which the proxy implements with its own locks, so a
// command takes effect safely while sessions run on other goroutines.
//
// # Protocol (as HAProxy 2.6)
//
// A client sends a line; commands in it are separated by ';' (a '\;' is a
// literal semicolon, '\' escapes any character, blanks separate words).
// Every command's output is followed by an empty line ("\n"). Without
// "prompt" the connection is closed after the first line (lines that
// arrived together with it are answered too, as HAProxy does). "prompt"
// toggles the interactive mode: the connection stays open and every output
// ends with "\n> ". "quit" closes it.
//
// # Levels
//
// A socket's "level" (user, operator, admin; default operator) bounds what
// its clients may do: changes (disable/enable/set server, set weight) need
// admin and otherwise answer "Permission denied"; server addresses and the
// balance algorithm in "show stat", and table contents in "show table",
// need operator. "operator" and "user" lower a session's level.
//
// # Limits
//
// A command line is at most MaxLine bytes (longer: "Command line too
// long." and the connection is closed); a command has at most MaxArgs
// words (more are dropped, as HAProxy's 64-argument limit). At most "stats
// maxconn" clients (default 10) are served at once over all sockets, and a
// socket's own "maxconn" bounds its share; further clients wait in the
// kernel's accept backlog, as with HAProxy. A client idle for "stats
// timeout" (default 10 s), or that does not read its output for as long, is
// disconnected.
package runtimeapi

import (
	"errors"
	"io"
	"time"

	"github.com/netmodels/netmodels/core/proxy/config"
)

// Limits of one client (see the package comment).
const (
	MaxLine = 16384
	MaxArgs = 64
)

// Errors a Proxy returns for names it does not know; the API prints
// HAProxy's texts for them.
var (
	ErrNoBackend  = errors.New("no such backend")
	ErrNoServer   = errors.New("no such server")
	ErrNoTable    = errors.New("no such table")
	ErrInvalidKey = errors.New("invalid key")
	// ErrStaticWeight: the backend's algorithm is static (HAProxy:
	// map-based hashing, static-rr), so a weight is either 0 or the
	// initial one.
	ErrStaticWeight = errors.New("Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.")
)

// Admin is a server's administrative state ("set server B/S state").
type Admin int

// Administrative states.
const (
	// Ready: normal operation.
	Ready Admin = iota
	// Drain: no new sessions except persistent ones; health checks go on.
	Drain
	// Maint: no new sessions at all and no health checks.
	Maint
)

func (a Admin) String() string {
	switch a {
	case Drain:
		return "drain"
	case Maint:
		return "maint"
	}
	return "ready"
}

// Proxy is what the runtime API reads and changes. Every method is called
// from an API client's goroutine, concurrently with the data path and with
// other clients: the implementation synchronises. Names are proxy and
// server names as in the configuration.
type Proxy interface {
	// Info is the process information of "show info".
	Info() Info
	// StatRows are the rows of "show stat", in HAProxy's order: for each
	// proxy in configuration order, its FRONTEND row (if it has the
	// frontend capability), its servers, its BACKEND row (if it has the
	// backend capability).
	StatRows() []StatRow
	// ServerWeight returns a server's current and initial weights.
	ServerWeight(backend, server string) (cur, initial int, err error)
	// SetServerWeight sets a server's current weight (0..256).
	SetServerWeight(backend, server string, weight int) error
	// SetServerAdmin sets a server's administrative state.
	SetServerAdmin(backend, server string, a Admin) error
	// Tables are the stick tables, in HAProxy's "show table" order.
	Tables() []Table
	// ServersState is every server's state for "show servers state", in
	// "show stat" order.
	ServersState() []ServerState
}

// ServerState is what "show servers state" prints of one server
// (HAProxy's server-state file, format 1).
type ServerState struct {
	BackendID int
	Backend   string
	ID        int
	Name      string
	// Host is the configured address (srv_addr); FQDN is set when it is
	// a name rather than an IP.
	Host, FQDN string
	Port       int
	// Running: HAProxy's op state RUNNING (up and not in maintenance),
	// else STOPPED.
	Running bool
	// Admin is the forced state; ConfigMaint: "disabled" in the
	// configuration (HAProxy keeps that bit once set).
	Admin       Admin
	ConfigMaint bool
	UWeight     int
	IWeight     int
	// LastChange is seconds since the last state change.
	LastChange int64
	// Checked: a health check is configured. CheckStatus is the last
	// check's HAProxy status ("L4OK", "L7RSP"; "" before the first),
	// CheckPassed whether it counted as a success; CheckHealth and Rise
	// as HAProxy counts them.
	Checked           bool
	CheckStatus       string
	CheckPassed       bool
	CheckHealth, Rise int
	UseSSL            bool   // "ssl" on the server line
	CheckPort         int    // explicit "port", else 0
	CheckAddr         string // explicit "addr", else ""
}

// Table is one stick table as the runtime API sees it (package
// proxy/sticktable's Table through an adapter).
type Table interface {
	// Name is the table's name (its proxy's).
	Name() string
	// Head writes the "# table: NAME, type: T, size:N, used:N" line.
	Head(w io.Writer) error
	// Dump writes the head line, then one line per selected entry in
	// HAProxy's "show table" format; with a key filter that finds nothing
	// it writes nothing (HAProxy). ErrInvalidKey: the key does not parse
	// for the table's type; an error about a data filter carries
	// HAProxy's text ("Filter entry #1: Data type not stored in this
	// table"). Errors come before anything is written.
	Dump(w io.Writer, f TableFilter) error
	// Clear removes the selected entries that no session holds.
	Clear(f TableFilter) error
}

// TableFilter selects table entries: "key K", or "data.TYPE OP VALUE"
// conditions that must all hold. The zero filter selects all.
type TableFilter struct {
	Key    string
	HasKey bool
	Data   []DataCond
}

// DataCond is one "data.TYPE OP VALUE" condition: Type is the stored data
// type's name (conn_cur, conn_rate, gpc0 ...), Op one of eq, ne, le, ge,
// lt, gt.
type DataCond struct {
	Type, Op string
	Value    int64
}

// Info is the process information of "show info". Zero values that HAProxy
// would print as 0 are printed; fields this proxy does not have are
// simply not part of it.
type Info struct {
	Name, Version string
	Pid           int
	Start         time.Time
	Now           time.Time
	// Threads is the number of engine loops; 0: not known (not printed).
	Threads   int
	MaxConn   int
	CurrConns int
	CumConns  int64
	Stopping  bool
	Listeners int
	// BytesOut is every byte sent to clients.
	BytesOut int64
}

// RowType is the "type" column: 0 frontend, 1 backend, 2 server.
type RowType int

// Row types.
const (
	FrontendRow RowType = 0
	BackendRow  RowType = 1
	ServerRow   RowType = 2
)

// StatRow is one row of "show stat", with the columns this proxy has; the
// other columns stay empty. Names are HAProxy's columns (management.txt
// §9.1).
type StatRow struct {
	Type RowType
	// Proxy is pxname; Name is svname ("FRONTEND", "BACKEND" or the
	// server's name).
	Proxy, Name string
	IID, SID    int
	// Counters, HAProxy's names.
	Qcur, Scur, Stot, Bin, Bout, Ereq, Econ, Wretr, Wredis, Dcon int64
	// Slim and Qlimit are limits; 0: none (empty).
	Slim, Qlimit int
	Status       string
	// Weight is the effective weight (servers: current weight; backends:
	// the sum over servers in use), UWeight the user-set one.
	Weight, UWeight, Act, Bck int
	// LastChg is seconds since the last state change; negative: unknown.
	LastChg int64
	// Check: a health check runs (servers): the check columns are filled.
	Check                             bool
	ChkFail, ChkDown                  int64
	CheckStatus                       string
	CheckRise, CheckFall, CheckHealth int
	CheckDesc                         string
	// LastChk is the last check's detail (HAProxy's last_chk: "Connection
	// refused", what an expect rule saw...).
	LastChk string
	// Addr (servers) and Algo (backends) are shown from level operator.
	Addr, Algo string
}

// Level is a socket's access level (config's type).
type Level = config.Level
