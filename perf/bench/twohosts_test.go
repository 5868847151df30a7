package bench

import (
	"fmt"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/core/netsim"

	"github.com/netmodels/netmodels/perf/result"
)

func TestParseTopology(t *testing.T) {
	for _, c := range []struct {
		topology, net string
		want          string // profile names, comma-joined
		err           string
	}{
		{"", "", "", ""},
		{"two-hosts", "", "lan", ""},
		{"two-hosts", "lan,lossy", "lan,lossy", ""},
		{"two-hosts", "dc,wan,bad", "dc,wan,bad", ""},
		{"", "lossy", "", "--net needs --topology two-hosts"},
		{"three-hosts", "lan", "", `--topology "three-hosts"`},
		{"two-hosts", "lan,moon", "", "--net"},
		{"two-hosts", "lan,lan", "", "lan given twice"},
		{"two-hosts", "lan,", "", "--net"},
	} {
		ps, err := ParseTopology(c.topology, c.net)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseTopology(%q, %q) = %v, want an error with %q", c.topology, c.net, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTopology(%q, %q): %v", c.topology, c.net, err)
			continue
		}
		var names []string
		for _, p := range ps {
			names = append(names, p.Name)
		}
		if got := strings.Join(names, ","); got != c.want {
			t.Errorf("ParseTopology(%q, %q) = %s, want %s", c.topology, c.net, got, c.want)
		}
	}
}

// A scenario over a profile: its ID suffixed, Net set, the original
// untouched, dpdk (over tap) kept, dpdk-memif absent with its own reason
// or, where it had none, because memif cannot cross a link.
func TestOnNet(t *testing.T) {
	d := &scenarioDef{res: result.Scenario{ID: "proxy-stream-1", Title: "Proxy bulk", Headline: true},
		targets: []target{{name: Direct}, {name: "goroutine"}, {name: DPDK}, {name: DPDKSpin}, {name: DPDKMemif, absent: memifNoProxy}}}
	c := onNet(d, "lossy")
	if c.res.ID != "proxy-stream-1@lossy" || c.res.Net != "lossy" || c.res.Headline {
		t.Errorf("onNet: id %q net %q headline %v", c.res.ID, c.res.Net, c.res.Headline)
	}
	if d.res.ID != "proxy-stream-1" || !d.res.Headline {
		t.Errorf("onNet changed its argument: %+v", d.res)
	}
	for _, tg := range c.targets {
		switch {
		case tg.name == DPDKMemif:
			if tg.absent != memifNoProxy {
				t.Errorf("dpdk-memif's own reason replaced: %q", tg.absent)
			}
		case tg.absent != "":
			t.Errorf("%s absent: %q", tg.name, tg.absent)
		}
	}
	d.targets[4].absent = ""
	if c := onNet(d, "lan"); c.targets[4].absent != memifNoLink || d.targets[4].absent != "" {
		t.Errorf("dpdk-memif over two hosts: absent %q (original %q)", c.targets[4].absent, d.targets[4].absent)
	}
}

func TestAddNetCounters(t *testing.T) {
	m := map[string]float64{}
	addNetCounters(m, map[string]float64{"msgr_reconnects_total": 2, "msgr_resent_messages_total": 10},
		map[string]float64{"msgr_reconnects_total": 5, "msgr_resent_messages_total": 10, "msgr_duplicates_dropped_total": 1})
	if m["reconnects_total"] != 3 || m["resent_messages_total"] != 0 {
		t.Errorf("deltas: %v", m)
	}
	if _, ok := m["duplicates_dropped_total"]; ok {
		t.Errorf("a counter missing before the repetition has no increase: %v", m)
	}
}

// TestNetPlan: what a run crosses the two-hosts topology with. The
// default suite: lan and lossy with the two-hosts scenarios, wan with the
// bulk stream; --no-net and --hosts nothing; --net its profiles with the
// two-hosts scenarios; --only narrows and drops empty steps.
func TestNetPlan(t *testing.T) {
	lossy, _ := netsim.ParseProfile("lossy")
	for _, c := range []struct {
		name string
		cfg  Config
		want string // profile:scenario count, space-joined
	}{
		{"default", Config{Suite: Suites["default"]}, fmt.Sprintf("lan:%d lossy:%d wan:1", len(TwoHostScenarios), len(TwoHostScenarios))},
		{"no-net", Config{Suite: Suites["default"], NoNet: true}, ""},
		{"hosts", Config{Suite: Suites["default"], Hosts: &Hosts{}}, ""},
		{"quick", Config{Suite: Suites["quick"]}, ""},
		{"--net lossy", Config{Suite: Suites["quick"], Net: []netsim.Profile{lossy}}, fmt.Sprintf("lossy:%d", len(TwoHostScenarios))},
		{"--only stream", Config{Suite: Suites["default"], Only: []string{"stream"}}, "lan:1 lossy:1 wan:1"},
		{"--only keepalive", Config{Suite: Suites["default"], Only: []string{"keepalive"}}, "lan:1 lossy:1"},
	} {
		c.cfg.ClientEngine, c.cfg.BinDir = "goroutine", "/nonexistent"
		r := &runner{cfg: c.cfg, absent: map[string]string{}}
		plan, err := r.netPlan()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got []string
		for _, st := range plan {
			got = append(got, fmt.Sprintf("%s:%d", st.profile.Name, len(st.defs)))
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("%s: plan %q, want %q", c.name, g, c.want)
		}
	}
}
