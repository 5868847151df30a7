package report

import (
	"fmt"
	"strings"

	"github.com/netmodels/netmodels/perf/result"
)

// isDPDK: bin/dpdk's targets (dpdk over tap, dpdk-memif, dpdk-spin).
func isDPDK(target string) bool { return target == "dpdk" || strings.HasPrefix(target, "dpdk-") }

// dpdkScenarios are compared in the dpdk section besides the headline
// ones: pipelined throughput (where a poll-mode stack should shine) and
// idle CPU (where polling costs).
var dpdkScenarios = map[string]bool{"msgr-pipelined-16x16-4KiB": true, "msgr-idle-cpu": true}

// dpdkSection compares every bin/dpdk target with the best kernel engine
// of the same scenario, from this run's medians, and says where dpdk is
// slower and why. Nil when the run has no dpdk cell.
func dpdkSection(run *result.Run) *section {
	var rows [][]string
	var slower, faster []string
	any := false
	for _, sc := range run.Scenarios {
		if !sc.Headline && !dpdkScenarios[sc.ID] || len(sc.Metrics) == 0 {
			continue
		}
		m := sc.Metrics[0]
		var best *result.Cell
		for _, c := range sc.Cells {
			if c.Kind != result.KindEngine || isDPDK(c.Target) || c.Status != result.StatusOK {
				continue
			}
			if _, ok := c.Summary[m.Name]; !ok {
				continue
			}
			if best == nil || better(m, c.Summary[m.Name].Median, best.Summary[m.Name].Median) {
				best = c
			}
		}
		for _, c := range sc.Cells {
			if !isDPDK(c.Target) {
				continue
			}
			any = true
			row := []string{sc.ID, fmt.Sprintf("%s [%s]", m.Name, m.Unit), c.Target}
			if c.Status != result.StatusOK {
				row = append(row, statusText(c)+": "+esc(c.Reason), "", "", "", "")
				rows = append(rows, row)
				continue
			}
			v := c.Summary[m.Name].Median
			row = append(row, summaryText(c.Summary[m.Name]))
			if best == nil {
				row = append(row, "no kernel engine ok", "", "", "")
				rows = append(rows, row)
				continue
			}
			b := best.Summary[m.Name].Median
			row = append(row, fmt.Sprintf("%s %s", best.Target, num(b)))
			ratio, verdict := "–", "–"
			if b != 0 {
				ratio = num(v/b) + "×"
				// "worse" in the metric's own direction.
				switch {
				case better(m, b, v*1.05):
					verdict = "**worse**"
					slower = append(slower, fmt.Sprintf("%s on %s (%s ×%s)", c.Target, sc.ID, m.Name, num(v/b)))
				case better(m, v, b*1.05):
					verdict = "better"
					faster = append(faster, fmt.Sprintf("%s on %s (%s ×%s)", c.Target, sc.ID, m.Name, num(v/b)))
				default:
					verdict = "within 5 %"
				}
			}
			cpu := ""
			for _, name := range []string{"server_cpu_us_per_msg", "server_cpu_s_per_gb", "server_cpu_us_per_conn"} {
				if dc, ok := c.Summary[name]; ok {
					if bc, ok := best.Summary[name]; ok && bc.Median > 0 {
						cpu = fmt.Sprintf("%s: %s vs %s (%s×)", name, num(dc.Median), num(bc.Median), num(dc.Median/bc.Median))
					}
					break
				}
			}
			row = append(row, ratio, verdict, cpu)
			rows = append(rows, row)
		}
	}
	if !any {
		return nil
	}
	s := &section{level: 2, title: "dpdk against the kernel engines"}
	s.paras = append(s.paras, "Computed from this run: for each headline scenario (and msgr-pipelined-16x16-4KiB, msgr-idle-cpu) every bin/dpdk target's median "+
		"against the best kernel engine's median on the scenario's first headline metric; \"worse\" means more than 5 % worse in that metric's direction. "+
		"dpdk runs over a tap, driven by the same kernel clients as the kernel engines; dpdk-memif is bin/dpdk msgr-server driven by bin/dpdk msgr-client "+
		"over net_memif (a different client: two DPDK processes, no kernel on the data path); dpdk-spin is dpdk with --poll=spin. "+
		"Busy CPU per message (or per GB, per connection) of the measured server is in the last column; idle CPU is msgr-idle-cpu.")
	mtu := run.Extra["dpdk_mtu"]
	if mtu == "" {
		mtu = "1500"
	}
	if len(slower) > 0 {
		s.paras = append(s.paras, fmt.Sprintf("**Where dpdk is slower** (MTU %s): %s.", mtu, strings.Join(slower, "; ")))
	}
	if len(faster) > 0 {
		s.paras = append(s.paras, fmt.Sprintf("Where dpdk is better: %s.", strings.Join(faster, "; ")))
	}
	s.paras = append(s.paras, "Why (research/dpdk-gvisor.md, and the cells above): the TCP/IP stack is gVisor's netstack, TCP in Go on its own goroutines with a copy "+
		"between mbufs and its buffers each way, so every segment costs far more CPU than in the kernel's stack; at MTU 1500 that per-segment cost, not DPDK's "+
		"poll-mode I/O, bounds throughput. Jumbo frames would cut the segment count, but DPDK 22.11's net_tap refuses frames above 1522 bytes, so --dpdk-mtu 9000 applies to memif only (where it showed no clear gain, impl-dpdk/README.md). Over a tap the kernel is still on the path (the client's socket, "+
		"then a tap write and read per frame), so dpdk over tap adds the userspace stack to the kernel's work rather than replacing it. "+
		"In pinned scenarios the client, the kernel, gVisor's goroutines and the DPDK poller share one CPU, and every step of a round trip is a "+
		"thread switch on it; --poll=adaptive does not spin there (it does, 100 µs after the last frame, when the process may use more than one CPU). "+
		"dpdk-memif puts two such pollers (client and server) on the path and no kernel; "+
		"idle, adaptive polling blocks on the tap's rx interrupt, while memif (no interrupt) backs off with nanosleep and --poll=spin costs a whole core.")
	s.tables = append(s.tables, table{head: []string{"scenario", "metric", "target", "dpdk median (CI)", "best kernel engine", "dpdk ÷ best", "verdict", "busy CPU: dpdk vs best"}, rows: rows})
	return s
}

// better reports whether a is better than b for metric m.
func better(m result.MetricDef, a, b float64) bool {
	if m.Lower {
		return a < b
	}
	return a > b
}
