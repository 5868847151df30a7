package config

import (
	"crypto/tls"
	"fmt"
	"github.com/netmodels/netmodels/core/proxy/sticktable"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Samples and conditions: see the package documentation (config.go) for
// the model and for how to add a fetch.

// SampleType is the type of a fetch's output.
type SampleType uint8

// Sample types (HAProxy's SMP_T_*).
const (
	TypeBool SampleType = iota
	TypeInt
	TypeIP
	TypeStr
	TypeBin
)

func (t SampleType) String() string {
	return [...]string{"boolean", "integer", "ip", "string", "binary"}[t]
}

// Sample is one fetched value. Bytes may alias the session's buffer: it is
// valid only during the evaluation that fetched it.
type Sample struct {
	Type  SampleType
	Int   int64 // bool (0 or 1) and int
	IP    netip.Addr
	Bytes []byte // str and bin
	// MayChange: more request data may change the value or make it
	// available (HAProxy's SMP_F_MAY_CHANGE).
	MayChange bool
	// NotLast: the fetch has more values (HAProxy's SMP_F_NOT_LAST, as
	// req.ssl_alpn gives one per protocol); fetched again with Ctx as the
	// fetch left it, it gives the next. A matcher tries each.
	NotLast bool
	// Ctx is the fetch's own iteration state between values (0: first).
	Ctx int
}

// SetBool, SetInt, SetIP and SetBytes fill the sample.
func (s *Sample) SetBool(b bool) {
	s.Type, s.Int = TypeBool, 0
	if b {
		s.Int = 1
	}
}
func (s *Sample) SetInt(n int64)                  { s.Type, s.Int = TypeInt, n }
func (s *Sample) SetIP(a netip.Addr)              { s.Type, s.IP = TypeIP, a.Unmap() }
func (s *Sample) SetBytes(t SampleType, b []byte) { s.Type, s.Bytes = t, b }

// Phase is the earliest point of a session where a fetch has its value.
// Rule sets run in this order; a fetch is usable from its phase on.
type Phase uint8

const (
	// PhaseConnection: "tcp-request connection" rules, on the socket's
	// addresses before any PROXY header or TLS handshake.
	PhaseConnection Phase = iota
	// PhaseContent: "tcp-request content" rules and "use_backend": the
	// buffered request bytes and the TLS state are known.
	PhaseContent
)

func (p Phase) String() string {
	if p == PhaseConnection {
		return "tcp-request connection"
	}
	return "tcp-request content"
}

// SampleSource is what fetches read at run time; the proxy's session
// implements it (core/proxy/sample.go). A method is added here when a new
// fetch needs new session state.
type SampleSource interface {
	// Src and Dst are the client's addresses: the socket's in
	// "tcp-request connection" rules, else the PROXY header's on an
	// accept-proxy bind.
	Src() netip.AddrPort
	Dst() netip.AddrPort
	// Req is the client bytes buffered so far (the request channel before
	// the server connection) and whether no more will come for the
	// decision (buffer full or client EOF).
	Req() (b []byte, final bool)
	// TLS is the client-side TLS state; false on a raw bind or before
	// the handshake completed.
	TLS() (tls.ConnectionState, bool)
	// StickCtr is the entry stick counter n tracks (track-scN), nil if
	// none; StickTable is the run-time table called name, nil if none
	// (fetches_stick.go).
	StickCtr(n int) *sticktable.Entry
	StickTable(name string) *sticktable.Table
}

// ArgType is the type of a fetch argument.
type ArgType uint8

// Argument types.
const (
	ArgInt ArgType = iota
	ArgStr
)

func (t ArgType) String() string {
	if t == ArgInt {
		return "integer"
	}
	return "string"
}

// Arg is one parsed fetch argument.
type Arg struct {
	Int int64
	Str string
}

// Fetch is one entry of the fetch table.
type Fetch struct {
	name    string
	args    []ArgType
	minArgs int
	// check validates the parsed arguments (nil: none).
	check func(args []Arg) error
	out   SampleType
	phase Phase
	// intPat parses an integer pattern for the default -m int ("3.1"
	// for req.ssl_ver); nil: decimal.
	intPat func(string) (int64, error)
	fn     func(e *Env, args []Arg, smp *Sample) bool
}

// Name is the fetch's configuration name.
func (f *Fetch) Name() string { return f.name }

// fetchIndex is the fetch table by name.
var fetchIndex = func() map[string]*Fetch {
	m := map[string]*Fetch{}
	all := append(append([]Fetch(nil), fetches...), stickFetches()...)
	for i := range all {
		f := &all[i]
		if m[f.name] != nil {
			panic("config: fetch " + f.name + " registered twice")
		}
		m[f.name] = f
	}
	return m
}()

// FetchNames lists the supported fetches, sorted (for docs and messages).
// The stick-counter fetches (over a hundred spellings) are summed up as
// one item.
func FetchNames() []string {
	var n []string
	for k := range fetchIndex {
		if !isStickFetch(k) {
			n = append(n, k)
		}
	}
	n = append(n, "sc_*/sc0_*/sc1_*/sc2_*/src_* (stick counters)")
	sort.Strings(n)
	return n
}

// Env is one evaluation: the session, the rule set being run and whether
// its data is final (no more will be waited for: inspect-delay expired,
// buffer full, client EOF, or a rule set that never waits).
type Env struct {
	S     SampleSource
	Phase Phase
	Final bool
	// smp is scratch space for one sample, and buf for converters'
	// output, so an evaluation through a reused Env allocates nothing.
	smp Sample
	buf []byte
}

// Req is the buffered request and whether it is final for this
// evaluation.
func (e *Env) Req() ([]byte, bool) {
	b, final := e.S.Req()
	return b, final || e.Final
}

// SampleExpr is a fetch with its arguments and converters:
// "req.payload(0,5)", "req.ssl_sni,lower,map_dom(/etc/haproxy/sni.map)".
type SampleExpr struct {
	Fetch *Fetch
	Args  []Arg
	Convs []*Conv
	text  string
}

// String is the expression as written.
func (e *SampleExpr) String() string { return e.text }

// Out is the type of the expression's samples: the last converter's, else
// the fetch's.
func (e *SampleExpr) Out() SampleType {
	if n := len(e.Convs); n > 0 {
		return e.Convs[n-1].def.out
	}
	return e.Fetch.out
}

// Eval fetches the sample for the rules of phase e.Phase and applies the
// converters: a fetch whose value comes later in the session has none
// there (and will not get one by waiting). smp.Ctx is kept: 0 asks for the
// first value, what the fetch left after a NotLast value asks for the next.
// A converter that fails leaves no sample (MayChange stays the fetch's).
func (x *SampleExpr) Eval(e *Env, smp *Sample) bool {
	*smp = Sample{Ctx: smp.Ctx}
	if x.Fetch.phase > e.Phase {
		return false
	}
	if !x.Fetch.fn(e, x.Args, smp) {
		return false
	}
	for _, c := range x.Convs {
		if !c.def.fn(e, c, smp) {
			return false
		}
	}
	return true
}

// parseSampleExpr reads "name", "name(arg,arg)", each optionally followed
// by ",converter" or ",converter(args)".
func parseSampleExpr(word string) (*SampleExpr, error) {
	parts := splitTop(word)
	call := parts[0]
	name := call
	if i := strings.IndexByte(call, '('); i >= 0 {
		name = call[:i]
	}
	f := fetchIndex[name]
	if f == nil {
		return nil, fmt.Errorf("unknown fetch method '%s' in ACL expression '%s'", name, word)
	}
	_, argText, hasParen, err := splitCall(call)
	if err != nil {
		return nil, fmt.Errorf("fetch method '%s': missing closing ')' after arguments", name)
	}
	e := &SampleExpr{Fetch: f, text: word}
	for _, cw := range parts[1:] {
		c, err := parseConv(cw)
		if err != nil {
			return nil, fmt.Errorf("fetch method '%s': %v", name, err)
		}
		e.Convs = append(e.Convs, c)
	}
	var raw []string
	if hasParen && argText != "" {
		raw = strings.Split(argText, ",")
	}
	if len(raw) > len(f.args) {
		if len(f.args) == 0 {
			return nil, fmt.Errorf("fetch method '%s' does not take arguments", name)
		}
		return nil, fmt.Errorf("fetch method '%s': too many arguments (%d, at most %d)", name, len(raw), len(f.args))
	}
	if len(raw) < f.minArgs {
		if len(raw) == 0 {
			return nil, fmt.Errorf("fetch method '%s': expected type '%s' at position 1, but got nothing", name, f.args[0])
		}
		return nil, fmt.Errorf("fetch method '%s': missing arguments (got %d/%d), type '%s' expected", name, len(raw), f.minArgs, f.args[len(raw)])
	}
	for i, r := range raw {
		var a Arg
		switch f.args[i] {
		case ArgInt:
			// Below 2^31, as HAProxy's, so offset+length cannot overflow.
			n, err := strconv.ParseInt(strings.TrimSpace(r), 10, 32)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("fetch method '%s': failed to parse '%s' as type 'integer' at position %d", name, r, i+1)
			}
			a.Int = n
		case ArgStr:
			a.Str = r
		}
		e.Args = append(e.Args, a)
	}
	if f.check != nil {
		if err := f.check(e.Args); err != nil {
			return nil, fmt.Errorf("fetch method '%s': %v", name, err)
		}
	}
	return e, nil
}
