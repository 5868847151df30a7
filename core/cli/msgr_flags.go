package cli

import (
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/msgr"
	"github.com/netmodels/netmodels/core/msgr/protocol"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// msgrFlags are the flags msgr-server and msgr-client share: who we are,
// the policy, and the messenger's tuning and fault injection.
type msgrFlags struct {
	name, policy, crc string
	protocol          string // "v1" or "v2"
	workers           int
	maxMsg            uint64
	inject            int
	backoff, maxBack  time.Duration
	hsTimeout         time.Duration
	bodyTimeout       time.Duration
	injDelay          time.Duration
	injDelayEvery     int
}

func (f *msgrFlags) register(fs *flag.FlagSet, defName, defPolicy string) {
	fs.StringVar(&f.name, "name", defName, "entity name TYPE.ID")
	fs.StringVar(&f.policy, "policy", defPolicy, "policy preset: "+strings.Join(msgr.PolicyNames(), ", "))
	fs.StringVar(&f.crc, "crc", "", `"none" turns header and data CRCs off (msgr1 only)`)
	fs.StringVar(&f.protocol, "protocol", "v1", "v1 (msgr1) or v2 (msgr2.1 crc mode; lossy policies only)")
	fs.IntVar(&f.workers, "workers", 0, "engine loops (0: number of CPUs)")
	fs.Uint64Var(&f.maxMsg, "max-message-bytes", 128<<20, "largest message accepted (front+middle+data)")
	fs.IntVar(&f.inject, "inject-socket-failures", 0, "fail about one socket read or write in N (0: off)")
	fs.DurationVar(&f.backoff, "initial-backoff", 200*time.Millisecond, "first reconnect back-off (ms_initial_backoff)")
	fs.DurationVar(&f.maxBack, "max-backoff", 15*time.Second, "back-off cap and WAIT delay (ms_max_backoff)")
	fs.DurationVar(&f.hsTimeout, "handshake-timeout", 10*time.Second, "ms_connection_ready_timeout")
	fs.DurationVar(&f.bodyTimeout, "body-progress-timeout", protocol.DefaultBodyProgressTimeout, "close a socket whose message body receives nothing for this long, returning its throttle reservations (0: off)")
	fs.DurationVar(&f.injDelay, "inject-delay", 0, "pause reading this long about once every --inject-delay-every reads")
	fs.IntVar(&f.injDelayEvery, "inject-delay-every", 100, "see --inject-delay")
}

func (f *msgrFlags) check(env *Env) (int, bool) {
	if _, err := wire.ParseEntityName(f.name); err != nil {
		return env.Usagef("--name %q: want TYPE.ID, e.g. osd.0", f.name), false
	}
	_, err := msgr.PolicyByName(f.policy)
	if err != nil {
		return env.Usagef("--policy: %v", err), false
	}
	if f.crc != "" && f.crc != "none" && f.crc != "crc32c" {
		return env.Usagef("--crc %q: want none or crc32c", f.crc), false
	}
	switch f.protocol {
	case "v1":
	case "v2":
		if f.crc == "none" {
			return env.Usagef("--crc none is msgr1's: msgr2.1 crc mode always checks its frame crcs"), false
		}
	default:
		return env.Usagef("--protocol %q: want v1 or v2", f.protocol), false
	}
	if f.backoff <= 0 || f.maxBack < f.backoff || f.hsTimeout <= 0 {
		return env.Usagef("--initial-backoff, --max-backoff, --handshake-timeout must be > 0, max >= initial"), false
	}
	if f.bodyTimeout < 0 {
		return env.Usagef("--body-progress-timeout must be >= 0 (0: off)"), false
	}
	if f.injDelay < 0 || f.injDelayEvery <= 0 {
		return env.Usagef("--inject-delay must be >= 0 and --inject-delay-every > 0"), false
	}
	if f.workers < 0 || f.inject < 0 || f.maxMsg == 0 {
		return env.Usagef("--workers, --inject-socket-failures must be >= 0 and --max-message-bytes > 0"), false
	}
	return 0, true
}

func (f *msgrFlags) config(env *Env) msgr.Config {
	name, _ := wire.ParseEntityName(f.name)
	return msgr.Config{
		// Monitors use nonce 0 (their monmap entries say so, and a peer
		// mon checks it, msgr-v1-wire §5); everyone else a random one.
		Name: f.name, RandomNonce: name.Type != wire.EntityMon, Policy: f.policy, NoCRC: f.crc == "none",
		MaxMessageBytes: f.maxMsg, InjectSocketFailures: f.inject,
		InitialBackoff: f.backoff, MaxBackoff: f.maxBack, HandshakeTimeout: f.hsTimeout,
		BodyProgressTimeout: bodyTimeout(f.bodyTimeout), InjectDelay: f.injDelay, InjectDelayEvery: f.injDelayEvery,
		Logf: func(format string, args ...any) { env.Logf(format, args...) },
	}
}

// bodyTimeout maps the flag (0: off) to msgr.Config (0: default, negative: off).
func bodyTimeout(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// checkHostPort rejects what net.Listen or a dial would only fail on
// later (after READY would have been printed).
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("bad port %q", port)
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		return fmt.Errorf("bad host %q", host)
	}
	return nil
}

// flagSet reports whether the command line set flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}
