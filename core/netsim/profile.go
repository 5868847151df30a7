package netsim

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Profile is a network condition, applied the same way to each direction
// of the link between the client and the server namespace.
type Profile struct {
	// Name is how the profile is asked for (--profile, --net).
	Name string
	// Direct: the namespaces are joined by a plain veth pair and nothing
	// is emulated (every other field is then ignored).
	Direct bool
	// Delay is the one-way delay; Jitter spreads it uniformly over
	// [Delay-Jitter, Delay+Jitter]. Jitter never reorders frames by
	// itself (a frame never leaves before the one ahead of it): only
	// Reorder does.
	Delay, Jitter time.Duration
	// Loss, Duplicate and Reorder are probabilities per frame (0.005 is
	// 0.5 %). A reordered frame skips the delay and so overtakes the
	// frames in flight ahead of it, as netem's reorder does.
	Loss, Duplicate, Reorder float64
	// Rate is the bandwidth in bits per second, enforced by a token
	// bucket of Burst bytes; 0: no limit but the emulator's own (about
	// 0.9 Gbit/s at MTU 1500 on the project's 2-core VMs).
	Rate  int64
	Burst int
	// Limit is the link's buffer in frames: frames waiting for the rate
	// and frames in flight (delayed) together. A frame that arrives when
	// Limit frames are queued is dropped (drop-tail), as a full router
	// or NIC queue does. 0: DefaultLimit.
	Limit int
}

const (
	// DefaultLimit is a direction's queue in frames, netem's own default
	// (1000). At 1 Gbit/s and 10 ms one way (wan) a bandwidth-delay
	// product is 833 full frames, so a wan flow can fill the link.
	DefaultLimit = 1000
	// DefaultBurst is the token bucket's depth in bytes when Rate is set
	// and Burst is not, as `tc ... tbf burst 32kbit` would be.
	DefaultBurst = 32 << 10
)

// The profiles of issue #20. Delays are one way, so a round trip costs
// twice the delay (plus the emulator's own cost, spec/topology.md).
var profiles = map[string]Profile{
	"lan":   {Name: "lan", Direct: true},
	"dc":    {Name: "dc", Delay: 100 * time.Microsecond},
	"wan":   {Name: "wan", Delay: 10 * time.Millisecond, Jitter: time.Millisecond, Rate: 1_000_000_000},
	"lossy": {Name: "lossy", Delay: time.Millisecond, Loss: 0.005, Reorder: 0.001},
	"bad":   {Name: "bad", Delay: 20 * time.Millisecond, Loss: 0.02, Duplicate: 0.01},
}

// ProfileNames lists the named profiles, sorted.
func ProfileNames() []string {
	names := make([]string, 0, len(profiles))
	for n := range profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ParseProfile returns the named profile.
func ParseProfile(name string) (Profile, error) {
	p, ok := profiles[strings.TrimSpace(name)]
	if !ok {
		return Profile{}, fmt.Errorf("netsim: unknown profile %q (have %s)", name, strings.Join(ProfileNames(), ", "))
	}
	return p, nil
}

// ParseProfiles parses a comma-separated list ("lan,lossy").
func ParseProfiles(list string) ([]Profile, error) {
	var out []Profile
	for _, n := range strings.Split(list, ",") {
		p, err := ParseProfile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Validate says what is wrong with a hand-made profile.
func (p Profile) Validate() error {
	switch {
	case p.Delay < 0 || p.Jitter < 0:
		return fmt.Errorf("netsim: profile %q: negative delay or jitter", p.Name)
	case p.Jitter > p.Delay:
		return fmt.Errorf("netsim: profile %q: jitter %v above delay %v", p.Name, p.Jitter, p.Delay)
	case p.Rate < 0 || p.Burst < 0 || p.Limit < 0:
		return fmt.Errorf("netsim: profile %q: negative rate, burst or limit", p.Name)
	}
	for _, pr := range []float64{p.Loss, p.Duplicate, p.Reorder} {
		if pr < 0 || pr > 1 {
			return fmt.Errorf("netsim: profile %q: probability %v outside [0, 1]", p.Name, pr)
		}
	}
	return nil
}

// String is the profile in one line, for logs and READY output.
func (p Profile) String() string {
	if p.Direct {
		return p.Name + " (veth, no shaping)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (delay %v", p.Name, p.Delay)
	if p.Jitter > 0 {
		fmt.Fprintf(&b, " ± %v", p.Jitter)
	}
	if p.Rate > 0 {
		fmt.Fprintf(&b, ", rate %d bit/s", p.Rate)
	}
	for _, f := range []struct {
		what string
		v    float64
	}{{"loss", p.Loss}, {"duplicate", p.Duplicate}, {"reorder", p.Reorder}} {
		if f.v > 0 {
			fmt.Fprintf(&b, ", %s %g %%", f.what, 100*f.v)
		}
	}
	fmt.Fprintf(&b, ", limit %d frames)", p.limit())
	return b.String()
}

func (p Profile) limit() int {
	if p.Limit > 0 {
		return p.Limit
	}
	return DefaultLimit
}

func (p Profile) burst() int {
	if p.Burst > 0 {
		return p.Burst
	}
	return DefaultBurst
}
