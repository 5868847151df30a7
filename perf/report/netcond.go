package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/netmodels/netmodels/perf/result"
	"github.com/netmodels/netmodels/perf/stats"
)

// netCounterCols are the messenger server's loss counters a two-hosts
// run stores per repetition (bench/twohosts.go: the increase of
// msgr_reconnects_total, msgr_resent_messages_total and
// msgr_duplicates_dropped_total over the repetition, from its /metrics).
var netCounterCols = []struct{ metric, head string }{
	{"reconnects_total", "reconnects"},
	{"resent_messages_total", "resent msgs"},
	{"duplicates_dropped_total", "duplicates dropped"},
}

// netSection is "Network conditions": every scenario that ran over the
// two-hosts topology (Scenario.Net), one row per profile × target, with
// the scenario's headline metric and the latency percentiles, and the
// messenger's loss counters summed over the repetitions. Nil when the run
// has none.
func netSection(run *result.Run) *section {
	var bases []string
	byBase := map[string][]*result.Scenario{}
	for _, sc := range run.Scenarios {
		if sc.Net == "" {
			continue
		}
		base := strings.TrimSuffix(sc.ID, "@"+sc.Net)
		if _, ok := byBase[base]; !ok {
			bases = append(bases, base)
		}
		byBase[base] = append(byBase[base], sc)
	}
	if len(bases) == 0 {
		return nil
	}
	s := section{level: 2, title: "Network conditions (two hosts: core/netsim)"}
	if t := run.Extra["topology"]; t != "" {
		s.paras = append(s.paras, "Topology: "+t+".")
	} else if t := run.Extra["two_hosts"]; t != "" {
		s.paras = append(s.paras, "Topology: "+t+".")
	}
	s.paras = append(s.paras, "Each row is one target over one link profile: the first headline metric's median (confidence interval), "+
		"the rate (throughput), p50 and p99 medians where the scenario has them, and for messenger servers the counters read from their /metrics "+
		"around each repetition, summed over the repetitions (– : not exposed or not read). Every emulated profile (all but lan) "+
		"also pays the userspace emulator's own cost: about 30-120 µs per round trip and at most about 0.9 Gbit/s (spec/topology.md). "+
		"÷ direct, where the scenario has the direct anchor (the client straight to the backend over the same link), is the target's median over direct's (the interval from both confidence intervals): "+
		"on a 1 Gbit/s, 10 ms path (wan) a proxy that is not the bottleneck is within 10 % of it (≥ 0.90).")
	for _, base := range bases {
		scs := byBase[base]
		m0 := scs[0].Metrics[0]
		head := []string{"scenario", "profile", "target", metricHead(m0)}
		rate := hasMetric(scs[0], "rate") && m0.Name != "rate"
		if rate {
			head = append(head, "rate [msg/s]")
		}
		lat := hasMetric(scs[0], "p50_us") && m0.Name != "p50_us"
		if lat {
			head = append(head, "p50 [µs]")
		}
		p99 := hasMetric(scs[0], "p99_us")
		if p99 {
			head = append(head, "p99 [µs]")
		}
		direct := directOK(scs)
		if direct {
			head = append(head, "÷ direct")
		}
		counters := scs[0].Group == "messenger"
		if counters {
			for _, c := range netCounterCols {
				head = append(head, c.head)
			}
		}
		t := table{head: head}
		for _, sc := range scs {
			base0 := directSummary(sc, m0.Name)
			for _, c := range sc.Cells {
				row := []string{base, sc.Net, c.Target}
				if c.Status != result.StatusOK {
					row = append(row, statusText(c)+": "+c.Reason)
					for len(row) < len(head) {
						row = append(row, "")
					}
					t.rows = append(t.rows, row)
					continue
				}
				row = append(row, summaryText(c.Summary[m0.Name]))
				if rate {
					row = append(row, summaryText(c.Summary["rate"]))
				}
				if lat {
					row = append(row, summaryText(c.Summary["p50_us"]))
				}
				if p99 {
					row = append(row, summaryText(c.Summary["p99_us"]))
				}
				if direct {
					row = append(row, ratioText(c.Summary[m0.Name], base0))
				}
				if counters {
					for _, col := range netCounterCols {
						row = append(row, repSum(c, col.metric))
					}
				}
				t.rows = append(t.rows, row)
			}
		}
		s.tables = append(s.tables, t)
	}
	var links []string
	for k, v := range run.Extra {
		name, ok := strings.CutPrefix(k, "net_")
		if !ok {
			continue
		}
		if p, ok := strings.CutSuffix(name, "_window"); ok {
			links = append(links, fmt.Sprintf("%s windows: %s", p, v))
		} else {
			links = append(links, fmt.Sprintf("%s: %s", name, v))
		}
	}
	sort.Strings(links)
	for _, l := range links {
		s.after = append(s.after, "link "+l)
	}
	return &s
}

// repSum sums metric over c's repetitions; "–" when no repetition has it.
func repSum(c *result.Cell, metric string) string {
	sum, n := 0.0, 0
	for _, r := range c.Reps {
		if v, ok := r.Metrics[metric]; ok {
			sum += v
			n++
		}
	}
	if n == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", sum)
}

// directName is the anchor that runs a proxy scenario's load straight to
// its backend (bench.Direct).
const directName = "direct"

// directOK says whether any of scs has a measured direct cell.
func directOK(scs []*result.Scenario) bool {
	for _, sc := range scs {
		if directCell(sc) != nil {
			return true
		}
	}
	return false
}

// directSummary is metric's summary in sc's direct cell; the zero
// Summary (ratioText: "–") when direct did not run, failed or lacks it.
func directSummary(sc *result.Scenario, metric string) stats.Summary {
	if c := directCell(sc); c != nil {
		return c.Summary[metric]
	}
	return stats.Summary{}
}

// directCell is sc's direct cell when it was measured, else nil.
func directCell(sc *result.Scenario) *result.Cell {
	if c := sc.Cell(directName); c != nil && c.Status == result.StatusOK {
		return c
	}
	return nil
}
