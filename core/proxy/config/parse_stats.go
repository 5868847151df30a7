package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The global "stats" keyword: the runtime API's sockets (HAProxy's "stats
// socket", "stats timeout", "stats maxconn"). The API itself is package
// proxy/runtimeapi; spec/proxy.md §12.

// Runtime API defaults (HAProxy's).
const (
	// DefaultStatsTimeout is how long an API client may stay idle.
	DefaultStatsTimeout = 10 * time.Second
	// DefaultStatsMaxConn caps concurrent API clients over all sockets.
	DefaultStatsMaxConn = 10
)

// Level is a runtime API access level.
type Level int

// Levels, lowest first.
const (
	LevelUser Level = iota
	LevelOperator
	LevelAdmin
)

func (l Level) String() string {
	switch l {
	case LevelUser:
		return "user"
	case LevelOperator:
		return "operator"
	}
	return "admin"
}

// StatsSocket is one "stats socket" line.
type StatsSocket struct {
	// Network is "unix" or "tcp"; Addr is the path or "host:port".
	Network, Addr string
	// Mode is the socket file's permissions (unix only; 0: umask's).
	Mode uint32
	// Level is the clients' starting level (HAProxy's default: operator).
	Level Level
	// MaxConn caps this socket's concurrent clients; 0: only the global
	// "stats maxconn".
	MaxConn int
	// ExposeFD is "expose-fd listeners": accepted; there is no listener
	// descriptor to hand over (no seamless reload), so it does nothing.
	ExposeFD bool
	Where    Where
}

// Stats is the runtime API's global configuration.
type Stats struct {
	Sockets []StatsSocket
	// Timeout is "stats timeout": the idle limit of a client.
	Timeout time.Duration
	// MaxConn is "stats maxconn": concurrent clients over all sockets.
	MaxConn int
}

func (p *parser) globalStats(w []string) error {
	if len(w) < 2 {
		return p.errf("'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got '')")
	}
	switch w[1] {
	case "socket":
		return p.statsSocket(w)
	case "timeout":
		if len(w) != 3 {
			return p.errf("'stats timeout' expects a positive delay in milliseconds")
		}
		d, err := parseTime(w[2])
		if err != nil {
			return p.errf("'stats timeout': %v", err)
		}
		if d <= 0 {
			return p.errf("'stats timeout' expects a positive delay in milliseconds")
		}
		p.cfg.Global.Stats.Timeout = d
	case "maxconn":
		if len(w) != 3 {
			return p.errf("'stats maxconn' expects a positive value")
		}
		n, err := parseInt(w[2], 1<<20)
		if err != nil || n == 0 {
			return p.errf("'stats maxconn' expects a positive value")
		}
		p.cfg.Global.Stats.MaxConn = n
	case "bind-process":
		// One process: nothing to bind to.
	default:
		return p.errf("'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got '%s')", w[1])
	}
	return nil
}

// statsSocketOpts are the keywords after a stats socket's address: the
// bind keywords that make sense for it.
var statsSocketOpts = mergeOpts(
	map[string]lineOpt[*StatsSocket]{
		"level": {arg: true, set: func(s *StatsSocket, _, a string) error {
			switch a {
			case "user":
				s.Level = LevelUser
			case "operator":
				s.Level = LevelOperator
			case "admin":
				s.Level = LevelAdmin
			default:
				return fmt.Errorf("'level' only supports 'user', 'operator', and 'admin' (got '%s')", a)
			}
			return nil
		}},
		"mode": {arg: true, set: func(s *StatsSocket, _, a string) error {
			m, err := strconv.ParseUint(a, 8, 32)
			if err != nil || m > 0o7777 {
				return fmt.Errorf("'mode' expects an octal permission (got '%s')", a)
			}
			s.Mode = uint32(m)
			return nil
		}},
		"maxconn": {arg: true, set: func(s *StatsSocket, _, a string) error {
			n, err := parseInt(a, 1<<20)
			if err != nil || n == 0 {
				return fmt.Errorf("'maxconn' expects a positive integer (got '%s')", a)
			}
			s.MaxConn = n
			return nil
		}},
		"expose-fd": {arg: true, set: func(s *StatsSocket, _, a string) error {
			if a != "listeners" {
				return fmt.Errorf("'expose-fd' only supports 'listeners' (got '%s')", a)
			}
			s.ExposeFD = true
			return nil
		}},
	},
	// Ownership and placement: the process runs as whoever started it,
	// with one process and no thread binding.
	opts(lineOpt[*StatsSocket]{arg: true, ignore: true}, "user", "group", "uid", "gid", "name", "id",
		"process", "thread", "nice", "severity-output", "backlog"),
	opts(lineOpt[*StatsSocket]{ignore: true}, "accept-proxy", "v4v6", "v6only", "defer-accept"),
	opts(lineOpt[*StatsSocket]{fail: "%[1]s: '%[2]s' (TLS) is not supported"}, "ssl", "crt", "ca-file", "verify"),
)

func (p *parser) statsSocket(w []string) error {
	if len(w) < 3 {
		return p.errf("'stats socket' in global section expects an address or a path to a UNIX socket")
	}
	s := StatsSocket{Level: LevelOperator, Where: p.where()}
	addr := w[2]
	switch {
	case strings.HasPrefix(addr, "/") || strings.HasPrefix(addr, "./") || strings.HasPrefix(addr, "unix@"):
		s.Network, s.Addr = "unix", strings.TrimPrefix(addr, "unix@")
		if s.Addr == "" {
			return p.errf("'stats socket': empty UNIX socket path")
		}
	case strings.HasPrefix(addr, "abns@"), strings.HasPrefix(addr, "fd@"), strings.HasPrefix(addr, "sockpair@"),
		strings.HasPrefix(addr, "udp"), strings.HasPrefix(addr, "quic"):
		return p.errf("'stats socket': address '%s' is not supported (a UNIX socket path or a TCP host:port)", addr)
	default:
		addrs, err := parseBindAddrs(addr)
		if err != nil {
			return p.errf("'stats socket': %v", err)
		}
		if len(addrs) != 1 {
			return p.errf("'stats socket': '%s' names several addresses; use one per 'stats socket' line", addr)
		}
		s.Network, s.Addr = "tcp", addrs[0]
	}
	if err := applyLineOpts(p, statsSocketOpts, &s, "'stats socket'", w[3:]); err != nil {
		return err
	}
	p.cfg.Global.Stats.Sockets = append(p.cfg.Global.Stats.Sockets, s)
	return nil
}
