// Package config parses the subset of HAProxy's configuration language that
// a TCP ("mode tcp") proxy needs: sections global, defaults, frontend,
// backend and listen, with the keywords documented in spec/proxy.md. An
// existing tcp-mode haproxy.cfg either loads unchanged or fails with a
// one-line "file:line: message" error. Keywords HAProxy accepts but that do
// nothing for a TCP proxy (daemon, nbthread, stats socket, user, group, …)
// are accepted and ignored; keywords HAProxy itself only warns about become
// Warnings.
//
// Keywords are tables, so a new one is one entry: section keywords with the
// sections they apply in, their parser or their HAProxy-style warning or
// error text (keywords.go), "option" names (parse_option.go), and the
// keywords of server, default-server and bind lines (parse_server.go).
//
// Samples and conditions follow HAProxy's model (sample.go, fetches.go,
// match.go, acl.go): a fetch reads one value (a sample) from the session,
// a matcher compares it with an ACL's patterns, ACLs combine into
// if/unless conditions, evaluated at run time against a SampleSource the
// proxy's session implements, with HAProxy's three-state result (a
// condition that needs more request data says Miss, and a content rule
// waits).
//
// Adding a fetch is one entry in the fetches table (fetches.go):
//
//	{name: "src_port", out: TypeInt, phase: PhaseConnection, fn: fetchSrcPort},
//
//	func fetchSrcPort(e *Env, _ []Arg, smp *Sample) bool {
//		ap := e.S.Src()
//		if !ap.IsValid() {
//			return false // no sample
//		}
//		smp.SetInt(int64(ap.Port()))
//		return true
//	}
//
// name is what configurations write ("sc_conn_rate"); args declares the
// arguments in parentheses (ArgInt, ArgStr; those after minArgs are
// optional; check validates them); out is the sample type, which picks the
// default matcher when the ACL names none (bool, int, ip, str; a bin fetch
// needs an explicit -m, as in HAProxy); phase is the earliest rule set that
// has the value (PhaseConnection: socket addresses and stick counters;
// PhaseContent: buffered request bytes and TLS state); intPat optionally
// parses integer patterns ("3.1" for req.ssl_ver). fn fills smp and returns
// true, or false when there is no sample; it sets smp.MayChange when the
// answer may differ once more request bytes arrive (HAProxy's
// SMP_F_MAY_CHANGE; e.Req() says whether the data is final). When a fetch
// needs session state that SampleSource does not give, add a method to
// SampleSource, implement it on the session (core/proxy/sample.go) and on
// fakeSource (acl_test.go). A legacy spelling (req_ssl_sni) is an entry of
// its own with the same fields. Actions of tcp-request rules are a table
// too (tcpActions, parse_rules.go).
//
// The package does no I/O except in ParseFiles, which reads the files.
package config

import (
	"net/netip"
	"time"

	"github.com/netmodels/netmodels/core/proxy/tcpcheck"
)

// DefaultBufSize is HAProxy's tune.bufsize default.
const DefaultBufSize = 16384

// MinBufSize is the smallest tune.bufsize accepted: the engines' minimum
// read buffer.
const MinBufSize = 4096

// DefaultRetries is HAProxy's default "retries".
const DefaultRetries = 3

// Server check defaults (HAProxy's).
const (
	DefaultInter = 2 * time.Second
	DefaultRise  = 2
	DefaultFall  = 3
)

// Config is a parsed configuration.
type Config struct {
	Global    Global
	Frontends []*Frontend
	Backends  []*Backend
	// Tables are the stick tables, in declaration order.
	Tables   []*StickTable
	Warnings []Warning
}

// Backend returns the backend called name, or nil.
func (c *Config) Backend(name string) *Backend {
	for _, b := range c.Backends {
		if b.Name == name {
			return b
		}
	}
	return nil
}

// Global holds the process-wide settings.
type Global struct {
	// MaxConn caps concurrent sessions across all frontends; 0: no cap.
	MaxConn int
	// BufSize is tune.bufsize: the size of one channel buffer; it sets the
	// engine's read buffer and the channel high-water mark.
	BufSize int
	// HardStopAfter bounds a soft-stop; 0: wait for the last session.
	HardStopAfter time.Duration
	// Log is true when a "log" line is present; logs go to stderr.
	Log bool
	// Stats configures the runtime API ("stats socket" ...).
	Stats Stats
	// CABase and CrtBase prefix relative ca-file and crt paths.
	CABase, CrtBase string
	// DefaultBindSSL are the bind words that "ssl-default-bind-options",
	// "ssl-default-bind-ciphers" and "ssl-default-bind-ciphersuites" put
	// before the words of every "ssl" bind line (HAProxy's defaults; a
	// line's own word wins, being applied later).
	DefaultBindSSL []string
	// defaultServerSSL holds what "ssl-default-server-options",
	// "-ciphers" and "-ciphersuites" set: the TLS versions and ciphers of
	// every ssl server line that does not set its own.
	defaultServerSSL ServerSSL
	// SSLServerVerify is the default "verify" of server lines with ssl
	// ("ssl-server-verify", default required).
	SSLServerVerify Verify
}

// Timeouts are HAProxy's timeouts; zero means none.
type Timeouts struct {
	Connect, Client, Server, Tunnel, Queue, ClientFin, ServerFin, Check time.Duration
}

// Where is a position in a configuration file.
type Where struct {
	File string
	Line int
}

// Frontend accepts client connections ("frontend" or the front half of a
// "listen" section).
type Frontend struct {
	Name string
	// ID is HAProxy's proxy id (the "iid" of show stat): sections are
	// numbered in declaration order from 2; a listen's frontend and
	// backend share one.
	ID    int
	Where Where
	Binds []Bind
	// MaxConn caps this frontend's concurrent sessions; 0: no cap except
	// the global one.
	MaxConn  int
	Timeouts Timeouts
	// TCPRules are "tcp-request connection" rules, in order; the first
	// whose condition holds decides. No rule matching: accept.
	TCPRules []TCPRule
	// ContentRules are "tcp-request content" rules, in order, run once
	// the connection is accepted (after a PROXY header and the TLS
	// handshake), waiting up to InspectDelay for request data when a rule
	// needs more. No rule matching: accept.
	ContentRules []TCPRule
	// InspectDelay is "tcp-request inspect-delay"; 0: content rules
	// decide at once on what is there.
	InspectDelay time.Duration
	// UseBackends are "use_backend" rules, in order; first match wins.
	UseBackends []UseBackend
	// DefaultBackend is used when no use_backend rule matches; nil: none
	// (the connection is closed).
	DefaultBackend *Backend
	SpliceRequest  bool
	SpliceResponse bool
	SpliceAuto     bool
	Log            bool // "log" present (global or here)
	TCPLog         bool // "option tcplog": one line per session
	// Table is this section's "stick-table" (nil: none); a listen
	// section's frontend and backend share it.
	Table *StickTable

	defaultBackendName string
	defaultBackendAt   Where
}

// Bind is one listening address.
type Bind struct {
	Addr        string // "host:port", IPv6 bracketed
	AcceptProxy bool
	// SSL is the TLS termination ("ssl crt ..."); SSL.Enabled false: plain.
	SSL   BindSSL
	Where Where
	// crt and ca-file arguments, loaded once the line is read.
	crts []string
}

// Action is a tcp-request connection or content action.
type Action int

// Actions.
const (
	Accept Action = iota
	Reject
	// SilentDrop closes the client without telling it (a reset where
	// the engine can; spec/proxy.md §10).
	SilentDrop
	// TrackSC ("track-scN KEY [table T]") and IncGPC0 ("sc-inc-gpc0(N)")
	// act on stick counter SC and let the rules go on.
	TrackSC
	IncGPC0
)

func (a Action) String() string {
	switch a {
	case Reject:
		return "reject"
	case SilentDrop:
		return "silent-drop"
	case TrackSC:
		return "track-sc"
	case IncGPC0:
		return "sc-inc-gpc0"
	}
	return "accept"
}

// TCPRule is "tcp-request connection|content ACTION [if|unless COND]".
type TCPRule struct {
	// SC is the stick counter of track-scN and sc-inc-gpc0(N).
	SC int
	// TrackKey and Table are track-scN's key expression and table.
	TrackKey  *SampleExpr
	Table     *StickTable
	tableName string

	Action Action
	Cond   *Cond
	Where  Where
}

// UseBackend is "use_backend NAME [if|unless COND]".
type UseBackend struct {
	// Backend is the named backend; nil when the name is Dynamic.
	Backend *Backend
	// Dynamic is a name built per session ("%[expr]"). When its
	// condition holds and the name is no backend, the rules end and the
	// default backend is used (HAProxy's process_switching_rules).
	Dynamic *NameFormat
	Cond    *Cond
	Where   Where
	name    string
}

// Balance is a load-balancing algorithm.
type Balance int

// Algorithms.
const (
	RoundRobin Balance = iota
	LeastConn
	Source
	// First: the first server (by id) with a free slot (maxconn).
	First
	// StaticRR: weighted round robin over a precomputed map (HAProxy's
	// static-rr).
	StaticRR
)

func (b Balance) String() string {
	switch b {
	case LeastConn:
		return "leastconn"
	case Source:
		return "source"
	case First:
		return "first"
	case StaticRR:
		return "static-rr"
	}
	return "roundrobin"
}

// HashType is "hash-type": how a hash (balance source) picks a server.
type HashType int

// Hash types.
const (
	// MapBased: the hash modulo the total weight indexes a map of the
	// servers (HAProxy's default); a server going down moves most keys.
	MapBased HashType = iota
	// Consistent: a ring of weight × 16 points per server; a server going
	// down moves only its own keys.
	Consistent
)

func (h HashType) String() string {
	if h == Consistent {
		return "consistent"
	}
	return "map-based"
}

// Backend is a server farm ("backend" or the back half of "listen").
type Backend struct {
	Name     string
	ID       int // as Frontend.ID
	Where    Where
	Balance  Balance
	Servers  []*Server
	Timeouts Timeouts
	// Retries is how many times a failed connect is retried (HAProxy's
	// "retries", default 3).
	Retries        int
	Redispatch     bool
	SpliceRequest  bool
	SpliceResponse bool
	SpliceAuto     bool
	Log            bool
	TCPLog         bool
	// Table is this section's "stick-table" (nil: none).
	Table *StickTable
	// StickRules are the "stick on|match|store-request|store-response"
	// rules, in order.
	StickRules []StickRule
	// ContentRules and InspectDelay are the backend's "tcp-request
	// content" rules, run after it is chosen (a listen section's rules
	// are its frontend's and run once).
	ContentRules []TCPRule
	InspectDelay time.Duration
	// HashType and HashAvalanche are "hash-type" (balance source).
	HashType      HashType
	HashAvalanche bool
	// Check is the health-check ruleset of "option tcp-check" (with the
	// "tcp-check" rules), "option redis-check", "mysql-check",
	// "pgsql-check", "ssl-hello-chk", "smtpchk" or "ldap-check"; nil: a
	// plain connect check.
	Check *tcpcheck.Ruleset

	chk checkConf
}

// Server is one "server" line.
type Server struct {
	Name  string
	Where Where
	Host  string
	// Port 0: connect to the port the client connected to.
	Port int
	// SendProxy is 0 (none), 1 (send-proxy) or 2 (send-proxy-v2).
	SendProxy int
	Check     bool
	Inter     time.Duration
	FastInter time.Duration
	DownInter time.Duration
	Rise      int
	Fall      int
	// Weight 0..256, default 1; 0 takes no new sessions.
	Weight int
	// MaxConn caps concurrent sessions on the server; 0: none.
	MaxConn int
	// MaxQueue caps sessions waiting for this server; 0: bounded only by
	// the frontend's maxconn.
	MaxQueue int
	Backup   bool
	Disabled bool
	// CheckAddr and CheckPort redirect health checks ("addr", "port");
	// empty/0: the server's own address.
	CheckAddr string
	CheckPort int
	// SSL is the TLS origination ("ssl ..."); SSL.Enabled false: plain.
	SSL ServerSSL
	// CheckSSL: health checks run a TLS handshake ("check-ssl").
	CheckSSL bool
	// CheckSNI and CheckALPN are the server name and protocols TLS
	// health checks send ("check-sni", "check-alpn").
	CheckSNI  string
	CheckALPN []string
	// SendProxySSL adds PROXY v2 SSL TLVs: 1 send-proxy-v2-ssl, 2
	// send-proxy-v2-ssl-cn (with the client certificate's CN).
	SendProxySSL int
	// CheckSendProxy: health checks start with a PROXY header
	// ("check-send-proxy"); they also do when SendProxy is set and no
	// check port or addr is (HAProxy's rule).
	CheckSendProxy bool
	// ID is the server's numeric id ("id"; default: its position, from
	// 1): the order of balance first, the seed of consistent hashing.
	ID int
	// ShutdownOnDown: "on-marked-down shutdown-sessions" closes the
	// server's sessions when its check marks it down.
	ShutdownOnDown bool
	// ShutdownBackupOnUp: "on-marked-up shutdown-backup-sessions" closes
	// the sessions on backup servers when this server comes up.
	ShutdownBackupOnUp bool
}

// ChecksSendProxy is the PROXY protocol version a default health-check
// connection to s starts with (0: none): check-send-proxy, or send-proxy
// when no check port or addr is set.
func (s *Server) ChecksSendProxy() int {
	switch {
	case s.CheckSendProxy && s.SendProxy == 2:
		return 2
	case s.CheckSendProxy:
		return 1
	case s.CheckPort == 0 && s.CheckAddr == "":
		return s.SendProxy
	}
	return 0
}

// CheckTarget is the "host:port" health checks connect to ("" when the
// server has no port and no check port: it cannot be checked).
func (s *Server) CheckTarget() string {
	host, port := s.Host, s.Port
	if s.CheckAddr != "" {
		host = s.CheckAddr
	}
	if s.CheckPort != 0 {
		port = s.CheckPort
	}
	if port == 0 {
		return ""
	}
	return joinHostPort(host, port)
}

// Addr is the server's "host:port" for a client that connected to dst (only
// used when the server line has no port).
func (s *Server) Addr(dst netip.AddrPort) string {
	port := s.Port
	if port == 0 {
		port = int(dst.Port())
	}
	return joinHostPort(s.Host, port)
}
