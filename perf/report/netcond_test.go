package report

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/perf/result"
)

// netRun is a two-hosts run as the harness writes it: the messenger
// ping-pong over lan and lossy (an anchor without counters, an engine
// with them, an absent dpdk), the proxy stream over lossy, and one
// one-host scenario that the section leaves out. It goes through
// run.json (Save, Load) as `perf report` reads it.
func netRun(t *testing.T) *result.Run {
	p50 := result.MetricDef{Name: "p50_us", Unit: "µs", Lower: true, Headline: true}
	p99 := result.MetricDef{Name: "p99_us", Unit: "µs", Lower: true}
	rate := result.MetricDef{Name: "rate", Unit: "msg/s"}
	gbps := result.MetricDef{Name: "gbps", Unit: "Gbit/s", Headline: true}
	reps := func(kv ...any) []result.Rep {
		out := make([]result.Rep, 3)
		for i := range out {
			out[i].Metrics = map[string]float64{}
			for j := 0; j < len(kv); j += 2 {
				vs := kv[j+1].([]float64)
				out[i].Metrics[kv[j].(string)] = vs[i]
			}
		}
		return out
	}
	ping := func(net string, base float64) *result.Scenario {
		return &result.Scenario{ID: "msgr-pingpong-4KiB-unpinned@" + net, Net: net, Group: "messenger", Title: "Ping-pong over " + net,
			Metrics: []result.MetricDef{p50, p99, rate}, Anchors: []string{"raw-tcp"},
			Cells: []*result.Cell{
				{Target: "raw-tcp", Kind: result.KindAnchor, Status: result.StatusOK,
					Reps: reps("p50_us", []float64{base, base, base}, "p99_us", []float64{3 * base, 3 * base, 3 * base}, "rate", []float64{1e6 / base, 1e6 / base, 1e6 / base})},
				{Target: "goroutine", Kind: result.KindEngine, Status: result.StatusOK,
					Reps: reps("p50_us", []float64{base + 10, base + 11, base + 12}, "p99_us", []float64{900, 950, 1000}, "rate", []float64{400, 410, 420},
						"reconnects_total", []float64{0, 1, 2}, "resent_messages_total", []float64{0, 5, 7}, "duplicates_dropped_total", []float64{0, 0, 1})},
				{Target: "dpdk", Kind: result.KindEngine, Status: result.StatusAbsent, Reason: "bin/dpdk does not take part in the two-hosts topology yet"},
			}}
	}
	run := &result.Run{Schema: result.Schema, ID: "2026-12-06T100000Z", Suite: "default", Method: result.Method{Reps: 3, Confidence: 0.95},
		Extra: map[string]string{"topology": "two-hosts (core/netsim): test", "net_lossy": "lossy (delay 1ms); client→server {Lost:7}"},
		Scenarios: []*result.Scenario{
			{ID: "msgr-pingpong-4KiB-pinned", Group: "messenger", Title: "one host", Metrics: []result.MetricDef{p50},
				Cells: []*result.Cell{{Target: "goroutine", Kind: result.KindEngine, Status: result.StatusOK, Reps: reps("p50_us", []float64{20, 20, 20})}}},
			ping("lan", 30), ping("lossy", 2000),
			{ID: "proxy-stream-1@lossy", Net: "lossy", Group: "proxy", Title: "Stream over lossy", Metrics: []result.MetricDef{gbps},
				Cells: []*result.Cell{{Target: "direct", Kind: result.KindAnchor, Status: result.StatusOK, Reps: reps("gbps", []float64{0.8, 0.9, 1.0})},
					{Target: "haproxy", Kind: result.KindAnchor, Status: result.StatusFailed, Reason: "repetition 1: loadgen stream: timed out"},
					{Target: "goroutine", Kind: result.KindEngine, Status: result.StatusOK, Reps: reps("gbps", []float64{0.85, 0.86, 0.87})}}},
		}}
	for _, sc := range run.Scenarios {
		for _, c := range sc.Cells {
			if c.Status == result.StatusOK {
				c.Summarize(0.95)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "run.json")
	if err := run.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := result.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

func TestNetSection(t *testing.T) {
	md := build(netRun(t), nil, nil).markdown("")
	i := strings.Index(md, "## Network conditions")
	if i < 0 {
		t.Fatalf("no Network conditions section:\n%s", md)
	}
	sec := md[i:]
	sec = sec[:strings.Index(sec[3:], "\n## ")+3]
	for _, want := range []string{
		"| scenario | profile | target | p50_us [µs] ↓ | rate [msg/s] | p99 [µs] | reconnects | resent msgs | duplicates dropped |",
		"| msgr-pingpong-4KiB-unpinned | lan | raw-tcp | 30.0 | 33333 | 90.0 | – | – | – |",
		"| msgr-pingpong-4KiB-unpinned | lossy | goroutine | 2011 (2010–2012) | 410 (400–420) | 950 (900–1000) | 3 | 12 | 1 |",
		"| msgr-pingpong-4KiB-unpinned | lossy | dpdk | absent: bin/dpdk does not take part in the two-hosts topology yet |  |  |  |  |  |",
		"| scenario | profile | target | gbps [Gbit/s] ↑ | ÷ direct |",
		"| proxy-stream-1 | lossy | direct | 0.900 (0.800–1.00) | 1.00× (0.800–1.25) |",
		"| proxy-stream-1 | lossy | haproxy | **FAILED**: repetition 1: loadgen stream: timed out |  |",
		"| proxy-stream-1 | lossy | goroutine | 0.860 (0.850–0.870) | 0.956× (0.850–1.09) |",
		"- link lossy: lossy (delay 1ms); client→server {Lost:7}",
		"Topology: two-hosts (core/netsim): test.",
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("section lacks %q:\n%s", want, sec)
		}
	}
	if strings.Contains(sec, "msgr-pingpong-4KiB-pinned") {
		t.Errorf("a one-host scenario in the section:\n%s", sec)
	}
	if !strings.Contains(md, "| topology | two-hosts (core/netsim): test |") {
		t.Errorf("Run table lacks the topology")
	}
}

func TestNetSectionAbsentOnOneHost(t *testing.T) {
	if s := netSection(cannedRun(1)); s != nil {
		t.Errorf("one-host run got a Network conditions section: %+v", s)
	}
}
