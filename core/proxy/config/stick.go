package config

import (
	"strconv"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/proxy/sticktable"
)

// StickTable is a proxy's "stick-table" line. Its name is the proxy's;
// "table NAME" arguments of rules and fetches refer to it by that name.
type StickTable struct {
	sticktable.Config
	Where Where
	// Peers is the "peers" argument, accepted with a warning: tables are
	// not synchronised here.
	Peers string
	// SrvKeyAddr: "srvkey addr", server_key stores the server's address
	// rather than its name.
	SrvKeyAddr bool
	// proxy is the kind of section that declared it, for messages.
	proxy string
}

// Table returns the stick table called name, or nil.
func (c *Config) Table(name string) *StickTable {
	for _, t := range c.Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// parseStickTable reads "stick-table type T [len N] size N [expire T]
// [nopurge] [peers P] [srvkey name|addr] [store LIST]" (HAProxy 2.6's
// parse_stick_table, with its messages).
func (p *parser) parseStickTable(w []string) error {
	s := p.sec
	if prev := p.cfg.Table(s.name); prev != nil {
		return p.errf("stick-table name '%s' conflicts with table declared in %s '%s' at %s:%d.", s.name, prev.proxy, s.name, prev.Where.File, prev.Where.Line)
	}
	t := &StickTable{Where: p.where(), proxy: s.kind}
	t.Name = s.name
	t.Type = 0
	for i := 1; i < len(w); i++ {
		arg := w[i]
		next := func() (string, error) {
			if i+1 >= len(w) || w[i+1] == "" {
				return "", p.errf("stick-table: missing argument after '%s'.", arg)
			}
			i++
			return w[i], nil
		}
		switch arg {
		case "size":
			v, err := next()
			if err != nil {
				return err
			}
			n, bad := haproxySize(v)
			if bad >= 0 {
				return p.errf("stick-table: unexpected character '%c' in argument of 'size'.", v[bad])
			}
			t.Size = n
		case "peers":
			v, err := next()
			if err != nil {
				return err
			}
			t.Peers = v
		case "expire":
			v, err := next()
			if err != nil {
				return err
			}
			d, err := parseTime(v)
			if err != nil {
				if strings.Contains(err.Error(), "overflow") {
					return p.errf("stick-table: timer overflow in argument <%s> to <expire>, maximum value is 2147483647 ms (~24.8 days).", v)
				}
				return p.errf("stick-table: unexpected character '%c' in argument of 'expire'.", firstNonDigit(v))
			}
			if d > 0 && d < time.Millisecond {
				return p.errf("stick-table: timer underflow in argument <%s> to <expire>, minimum non-null value is 1 ms.", v)
			}
			t.Expire = d
		case "nopurge":
			t.NoPurge = true
		case "type":
			i++
			if i >= len(w) {
				return p.errf("stick-table: unknown type ''.")
			}
			if w[i] == "binary" {
				return p.errf("stick-table: type 'binary' is not supported (ip, ipv6, integer or string): no fetch here produces binary keys")
			}
			typ, ok := sticktable.ParseType(w[i])
			if !ok {
				return p.errf("stick-table: unknown type '%s'.", w[i])
			}
			t.Type, t.KeyLen = typ, 0
			if typ == sticktable.TypeString {
				t.KeyLen = sticktable.DefaultStringLen
				if i+1 < len(w) && w[i+1] == "len" {
					i += 2
					v := ""
					if i < len(w) {
						v = w[i]
					}
					n, err := strconv.Atoi(v)
					if err != nil || n <= 0 {
						return p.errf("stick-table: unknown type '%s'.", v)
					}
					if n > sticktable.MaxStringLen {
						return p.errf("stick-table: string key length %d is too large (at most %d bytes here)", n, sticktable.MaxStringLen)
					}
					t.KeyLen = n
				}
			}
		case "store":
			i++
			if i >= len(w) {
				break
			}
			if err := p.parseStores(&t.Stores, w[i]); err != nil {
				return err
			}
		case "srvkey":
			i++
			if i >= len(w) || (w[i] != "name" && w[i] != "addr") {
				v := ""
				if i < len(w) {
					v = w[i]
				}
				return p.errf("stick-table : unknown server key type '%s'.", v)
			}
			t.SrvKeyAddr = w[i] == "addr"
		default:
			return p.errf("stick-table: unknown argument '%s'.", arg)
		}
	}
	if t.Size == 0 {
		return p.errf("stick-table: missing size.")
	}
	if t.Type == 0 {
		return p.errf("stick-table: missing type.")
	}
	if t.Peers != "" {
		p.warnf("stick-table: 'peers %s' ignored: peers sections are not supported, the table is not synchronised", t.Peers)
	}
	s.table = t
	p.cfg.Tables = append(p.cfg.Tables, t)
	if s.fe != nil {
		s.fe.Table = t
	}
	if s.be != nil {
		s.be.Table = t
	}
	return nil
}

// parseStores reads a "store" list: "conn_rate(10s),conn_cur,gpc0".
func (p *parser) parseStores(st *sticktable.Stores, list string) error {
	for list != "" {
		// One option: a name, an optional "(args)", up to the next comma
		// outside parentheses.
		end, open := 0, -1
		for end < len(list) && list[end] != ',' {
			if list[end] == '(' {
				open = end
				close := strings.IndexByte(list[end:], ')')
				if close < 0 {
					return p.errf("stick-table: missing closing parenthesis after store option '%s'.", list[:end])
				}
				end += close
			}
			end++
		}
		opt := list[:end]
		list = strings.TrimPrefix(list[end:], ",")
		name, arg, hasArg := opt, "", false
		if open >= 0 {
			name, arg, hasArg = opt[:open], strings.TrimSuffix(opt[open+1:], ")"), true
		}
		d, ok, known := sticktable.LookupData(name)
		if !known {
			return p.errf("stick-table: unknown store option '%s'.", name)
		}
		if !ok {
			return p.errf("stick-table: store option '%s' is not supported here (use gpc0, gpc1, gpt0, gpc0_rate, gpc1_rate; server_key is only for peers)", name)
		}
		var period time.Duration
		switch {
		case d.IsRate() && (!hasArg || arg == ""):
			return p.errf("stick-table: missing argument to store option '%s'.", name)
		case !d.IsRate() && hasArg:
			return p.errf("stick-table: unexpected argument to store option '%s'.", name)
		case d.IsRate():
			v, err := parseTime(arg)
			if err != nil || v < time.Millisecond {
				return p.errf("stick-table: error when processing store option '%s'.", name)
			}
			period = v
		}
		added, err := st.Add(d, period)
		if err != nil {
			return p.errf("stick-table: %v", err)
		}
		if !added {
			p.warnf("stick-table: store option '%s' already enabled, ignored.", name)
		}
	}
	return nil
}

// haproxySize is HAProxy's parse_size_err: digits and an optional k, m or
// g (powers of 1024), within 32 bits. bad is the offset of the first
// unexpected character, -1 if none.
func haproxySize(s string) (n int, bad int) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, 0
	}
	var v uint64
	i := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		v = v*10 + uint64(s[i]-'0')
		if v > 1<<32-1 {
			return 0, i
		}
	}
	if i < len(s) {
		shift := 0
		switch s[i] {
		case 'k', 'K':
			shift = 10
		case 'm', 'M':
			shift = 20
		case 'g', 'G':
			shift = 30
		default:
			return 0, i
		}
		if i+1 < len(s) {
			return 0, i + 1
		}
		v <<= shift
		if v > 1<<32-1 {
			return 0, i
		}
	}
	return int(v), -1
}

func firstNonDigit(s string) byte {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return s[i]
		}
	}
	return ' '
}
