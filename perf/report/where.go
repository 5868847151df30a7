package report

import (
	"fmt"
	"math"

	"github.com/netmodels/netmodels/perf/cpuprof"
	"github.com/netmodels/netmodels/perf/result"
)

// classTitle heads the breakdown's columns.
var classTitle = map[string]string{
	cpuprof.Kernel:   "kernel (system time)",
	cpuprof.Sched:    "Go runtime: scheduler/netpoll",
	cpuprof.GC:       "Go runtime: GC and allocation",
	cpuprof.Syscall:  "syscall entry",
	cpuprof.Protocol: "protocol code",
	cpuprof.Engine:   "engine code",
	cpuprof.Crypto:   "crypto",
	cpuprof.Other:    "other",
}

// cpuMetric is the scenario's CPU per unit metric and its unit.
func cpuMetric(unit string) (name, label string) {
	switch unit {
	case "msg":
		return "server_cpu_us_per_msg", "CPU-µs/msg"
	case "conn":
		return "server_cpu_us_per_conn", "CPU-µs/conn"
	case "GB":
		return "server_cpu_s_per_gb", "CPU-s/GB"
	}
	return "", ""
}

// whereMethod is the method text of the where-the-time-goes sections.
func whereMethod() section {
	s := section{level: 2, title: "Where the time goes: method"}
	s.paras = append(s.paras,
		"In every headline scenario the measured process of each target (server, proxy or anchor) has its user and system CPU time read from /proc/<pid>/stat "+
			"(utime, stime; 10 ms ticks) around each repetition; the kernel share is the system time summed over the repetitions ÷ user + system summed likewise "+
			"(more ticks than any one repetition), and its threads' voluntary context switches from /proc/<pid>/task/*/status likewise (per unit, every target). It is applied to the cell's median CPU per unit (the scenario table's schedstat figure): kernel = share × CPU per unit. "+
			"Every Go target (each engine binary; not raw-tcp/direct, HAProxy or ceph-mon, which get the kernel/user split only) runs with core/cli's opt-in measured window "+
			"(NETMODELS_WINDOW, spec/cli.md): each repetition is a window whose runtime/metrics counters (/gc/heap/allocs:bytes, /gc/heap/allocs:objects, GC cycles, /sched/goroutines-created) "+
			"give heap bytes, allocations and goroutines started per unit (median over repetitions), and the middle repetition also records a CPU profile (runtime/pprof, 1 kHz asked; "+
			"Linux checks CPU timers at its tick, so fewer samples come, each still a sample of where the CPU went: the shares stand, the sample count is printed). "+
			"In the idle scenarios the window, like the CPU per session, spans the setup only.",
		"Classification (perf/cpuprof, self time): each sample goes to the code that was running, found by walking its stack from the leaf up, because an inclusive rule "+
			"would charge every sample to the engine loop at the root and the shares would not add up. A leaf in a raw system call is syscall entry: profile timers count system time too, "+
			"and a signal taken in the kernel arrives as the system call returns, so those samples hold the kernel's time. In the runtime part of the stack, a GC or allocation "+
			"function makes the sample GC and allocation, entersyscall/exitsyscall syscall entry; helpers (memmove, maps, hashing, locks) and the plain standard library "+
			"(bytes, sync, io, hash/crc32) are charged to their caller; any other runtime function is the scheduler's (scheduler/netpoll) unless a GC frame sits above it. "+
			"Otherwise the first frame outside the runtime decides by its package: net and internal/poll scheduler/netpoll, crypto/ and math/big crypto, "+
			"core/msgr, core/proxy, core/throttle and core/cli (the echo service) protocol, impl-*, core/engine and the I/O libraries (gnet, cloudwego/netpoll, gVisor) engine, anything else other.",
		"Scaling: kernel = kernel share × CPU per unit; syscall entry = (the profile's syscall share − the kernel share, never below 0) × CPU per unit; "+
			"every other class shares the rest of the CPU per unit in proportion to its samples. "+
			"When the syscall samples hold more than the kernel's time this is exactly profile share × CPU per unit; when they hold less (system time outside system calls, page faults), "+
			"the profiled classes are scaled down to the user time. Each figure is CPU per unit, with its share of the cell's CPU per unit in parentheses. "+
			"The profile is one repetition (its sample count is shown: with few samples a share moves by several points); open the flame graph for the stacks, "+
			"or the pprof file beside run.json with `go tool pprof -top FILE`.")
	s.after = cpuprof.Rules()
	return s
}

// whereSection is the where-the-time-goes table of a headline scenario.
func whereSection(sc *result.Scenario, flames map[string]string) *section {
	if !sc.Headline {
		return nil
	}
	metric, label := cpuMetric(sc.Unit)
	if metric == "" {
		return nil
	}
	s := section{level: 4, title: "Where the time goes — `" + sc.ID + "`"}
	t := table{head: []string{"target", "CPU per unit [" + label + "]"}}
	for _, c := range cpuprof.WhereClasses {
		t.head = append(t.head, classTitle[c])
	}
	per := sc.Unit
	t.head = append(t.head, "user, not profiled", "heap B/"+per, "allocs/"+per, "GC cycles/rep", "goroutines started/"+per, "voluntary ctx switches/"+per, "profile samples", "flame graph")
	shown := false
	for _, c := range sc.Cells {
		row := []string{c.Target}
		if c.Kind == result.KindAnchor {
			row[0] += " (anchor)"
		}
		if c.Status != result.StatusOK {
			row = append(row, statusText(c))
			for len(row) < len(t.head) {
				row = append(row, "")
			}
			t.rows = append(t.rows, row)
			continue
		}
		cpu := c.Summary[metric]
		user, sys := sum(c.Values(result.MetricUserS)), sum(c.Values(result.MetricSysS))
		row = append(row, summaryText(cpu))
		if user+sys <= 0 || cpu.N == 0 {
			// No ticks: a run from before these figures, or too short.
			for len(row) < len(t.head) {
				row = append(row, "")
			}
			t.rows = append(t.rows, row)
			continue
		}
		shown = true
		var b cpuprof.Breakdown
		if c.Profile != nil {
			b = cpuprof.Breakdown{Total: c.Profile.CPUNS, Samples: c.Profile.Samples, ByClass: c.Profile.ClassNS}
		}
		split := cpuprof.Split(cpu.Median, sys/(user+sys), b)
		for _, cl := range cpuprof.WhereClasses {
			v, ok := split[cl]
			switch {
			case cl == cpuprof.Other && b.Total <= 0:
				row = append(row, "") // shown as user, not profiled
			case !ok:
				row = append(row, "")
			default:
				row = append(row, sharePart(v, cpu.Median))
			}
		}
		if b.Total <= 0 {
			row = append(row, sharePart(split[cpuprof.Other], cpu.Median))
		} else {
			row = append(row, "")
		}
		for _, m := range []string{result.MetricHeapBytesUnit, result.MetricAllocsUnit, result.MetricGCCycles, result.MetricGoroutinesUnit, result.MetricVolSwitchesUnit} {
			if sm, ok := c.Summary[m]; ok {
				row = append(row, num(sm.Median))
			} else {
				row = append(row, "")
			}
		}
		if c.Profile != nil {
			row = append(row, samplesText(c.Profile.Samples))
		} else {
			row = append(row, "")
		}
		if f := flames[c.Target]; f != "" {
			row = append(row, "[SVG]("+f+")")
		} else {
			row = append(row, "")
		}
		t.rows = append(t.rows, row)
	}
	if !shown {
		s.paras = append(s.paras, "Not measured in this run (no user/system split recorded).")
	} else {
		s.paras = append(s.paras, fmt.Sprintf("CPU per %s of the measured process by where it went (method above). Anchors: kernel/user split only. "+
			"Heap figures and goroutines started: the Go runtime's counters over each repetition, per %s (median). "+
			"Voluntary ctx switches: the process's threads' voluntary_ctxt_switches (/proc/PID/task/*/status) over each repetition, per %s (median), every target: a thread that blocks and is woken again counts one, so this counts wake-ups and thread hand-offs. "+
			"Profile samples: ± is one standard error of a 50 %% share drawn from that many samples (100/(2√n) points), the most a share can be off from sampling alone.", per, per, per))
	}
	s.tables = append(s.tables, t)
	return &s
}

// samplesText is a profile's sample count with the standard error it
// allows a share at worst (p = 0.5: 50/√n points).
func samplesText(n int64) string {
	if n <= 0 {
		return "0"
	}
	return fmt.Sprintf("%d (±%.0f pts)", n, 50/math.Sqrt(float64(n)))
}

func sum(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t
}

// sharePart prints a class's CPU per unit and its share of the total.
func sharePart(v, total float64) string {
	if total <= 0 {
		return num(v)
	}
	return fmt.Sprintf("%s (%.0f %%)", num(v), 100*v/total)
}
