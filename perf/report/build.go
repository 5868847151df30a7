package report

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/netmodels/netmodels/perf/result"
)

// build assembles the report document. charts are the chart files written
// per scenario, flames the flame graphs per scenario and target (either
// may be nil).
func build(run *result.Run, charts map[string][]string, flames map[string]map[string]string) doc {
	d := doc{title: fmt.Sprintf("netmodels performance report — %s", run.ID)}
	m := run.Machine
	dur := run.Finished.Sub(run.Started).Round(time.Second)
	head := section{level: 2, title: "Run"}
	head.tables = append(head.tables, table{head: []string{"", ""}, rows: [][]string{
		{"suite", fmt.Sprintf("%s (%d repetitions × %.2f s after %.2f s warm-up; took %v)", run.Suite, run.Method.Reps, run.Method.DurationS, run.Method.WarmupS, dur)},
		{"started (UTC)", run.Started.Format(time.RFC3339)},
		{"command", "`" + run.Command + "`"},
		{"machine", fmt.Sprintf("%s, %d CPUs, %.1f GiB", m.Hostname, m.CPUs, float64(m.MemTotal)/(1<<30))},
		{"CPU model", m.CPUModel},
		{"kernel / OS", m.Kernel + " / " + m.OS},
		{"Go", m.GoVersion},
		{"commit", commitText(m)},
		{"load average (1 min) start → end", fmt.Sprintf("%.2f → %.2f", m.LoadStart, m.LoadEnd)},
	}})
	if b := run.Baseline; b != nil {
		head.tables[0].rows = append(head.tables[0].rows, []string{"baseline",
			fmt.Sprintf("`%s` = %s: its engines built from a git worktree of that commit and measured as ENGINE@%s, each right after ENGINE in every repetition's turn (anchors once); `perf compare RUN` compares them", b.Rev, b.Commit, b.Label)})
	}
	head.tables[0].rows = append(head.tables[0].rows, calibrationRows(run)...)
	head.tables[0].rows = append(head.tables[0].rows, [][]string{
		{"messenger client", fmt.Sprintf("bin/%s msgr-client drives every msgr-server (ECHO scenarios); the harness's own msgr1 client drives the KEEPALIVE2 scenarios for every server and ceph-mon", run.ClientEngine)},
		{"pinning", pinText(run)},
		{"listeners", listenText(run)},
	}...)
	if t := run.Extra["topology"]; t != "" {
		head.tables[0].rows = append(head.tables[0].rows, []string{"topology", t})
	}
	if t := run.Extra["two_hosts"]; t != "" {
		head.tables[0].rows = append(head.tables[0].rows, []string{"two hosts", t})
	}
	if h := run.Extra["hosts"]; h != "" {
		head.tables[0].rows = append(head.tables[0].rows, []string{"hosts (kernel: uname -srm over SSH)", h})
	}
	if t := run.Extra["dpdk_topology"]; t != "" {
		head.tables[0].rows = append(head.tables[0].rows, []string{"dpdk topology", t})
	}
	if d := run.Extra["dpdk_duration_s"]; d != "" {
		text := d + " s each for dpdk and dpdk-memif (shorter than the others', to keep the suite's time; rates are per second, so comparable)"
		if sd := run.Extra["dpdk_stream_duration_s"]; sd != "" {
			text += "; " + sd + " s in the bulk-stream scenarios (each repetition is a new connection, and the userspace TCP needs time to open its window)"
		}
		head.tables[0].rows = append(head.tables[0].rows, []string{"dpdk repetitions", text})
	}
	if mtu := run.Extra["dpdk_mtu"]; mtu != "" {
		head.tables[0].rows = append(head.tables[0].rows, []string{"dpdk MTU", mtu + " (bin/dpdk --mtu; the tap's kernel side too)"})
	}
	head.paras = append(head.paras,
		"Method: warm-up excluded; each cell is the median of its repetitions with a distribution-free 95 % confidence interval "+
			"(order statistics; with 5 repetitions the widest interval, min–max, covers 93.75 %, printed as is). "+
			"Latency percentiles come from HdrHistogram (merged histograms are in run.json). "+
			"CPU figures are the on-CPU time of the measured server, proxy or anchor process, summed over its threads from /proc/<pid>/task/*/schedstat "+
			"(nanoseconds; utime+stime ticks as fallback) around each repetition; client_cores is the load generator's own CPU per second: near 1.0 means the client, not the server, was the limit. "+
			"Ratios divide medians; their bounds combine both intervals (conservative). "+
			"Every scenario keeps its targets up side by side and interleaves the repetitions (rep 1 of each target, then rep 2, ...), so a neighbour's burst or the machine's drift hits all alike; "+
			"each proxy has its own copy of the config file (same text, its own ports), and the scale scenarios restart only the target whose turn it is (fresh server per repetition); "+
			"a scenario whose targets must hold one address in turn (msgr-rados: the OSD's) runs them one at a time, as its note says. "+
			"On a shared machine compare ratios, not absolute numbers.")
	if w := calibrationWarning(run); w != nil {
		d.sections = append(d.sections, *w)
	}
	// The summary opens the page (after the calibration flag, which
	// qualifies every number in it).
	d.sections = append(d.sections, summarySections(run)...)
	d.sections = append(d.sections, head)
	d.sections = append(d.sections, matrix(run), ratioMatrix(run))
	if ds := dpdkSection(run); ds != nil {
		d.sections = append(d.sections, *ds)
	}
	if ns := netSection(run); ns != nil {
		d.sections = append(d.sections, *ns)
	}
	d.sections = append(d.sections, coresSections(run, charts)...)
	d.sections = append(d.sections, connsSections(run, charts)...)
	if slices.ContainsFunc(run.Scenarios, func(sc *result.Scenario) bool { return sc.Headline && sc.Unit != "" }) {
		d.sections = append(d.sections, whereMethod())
	}
	groups := []struct{ id, title string }{{"messenger", "Messenger"}, {"proxy", "Proxy"}, {"tls", "TLS termination (proxy, HAProxy/OpenSSL as the anchor)"}}
	for _, g := range groups {
		d.sections = append(d.sections, section{level: 2, title: g.title})
		for _, sc := range run.Scenarios {
			if sc.Group == g.id {
				d.sections = append(d.sections, scenarioSection(sc, charts[sc.ID], targetReasons(run)))
				if ws := whereSection(sc, flames[sc.ID]); ws != nil {
					d.sections = append(d.sections, *ws)
				}
			}
		}
	}
	d.sections = append(d.sections, ceiling(run), targetsSection(run))
	if run.ProxyConfig != "" {
		d.sections = append(d.sections, section{level: 2, title: "Proxy configuration (identical for HAProxy and every engine but for the ports: each target has its own copy)", pre: run.ProxyConfig})
	}
	if t := run.Extra["tls_proxy_config"]; t != "" {
		d.sections = append(d.sections, section{level: 2, title: "TLS proxy configuration (identical for HAProxy and every engine but for the ports; RUNDIR is the run's temporary folder, certificates made at run time)", pre: t})
	}
	if len(run.HarnessErrors) > 0 {
		var first []string
		for _, e := range run.HarnessErrors {
			first = append(first, strings.SplitN(e, "\n", 2)[0])
		}
		d.sections = append(d.sections, section{level: 2, title: "Harness errors (bugs of perf itself; stacks in run.json)", paras: first})
	}
	if len(run.Notes) > 0 {
		d.sections = append(d.sections, section{level: 2, title: "Notes from the run", paras: run.Notes})
	}
	return d
}

// listenText says where the harness's listeners and the anchors bound.
func listenText(run *result.Run) string {
	h := run.Extra["listen_host"]
	if h == "" {
		h = "127.0.0.1"
	}
	return fmt.Sprintf("raw server, backends, haproxy, ceph-mon and the kernel engines' servers and proxies all bind %s, the same for every target of the run", h)
}

func commitText(m result.Machine) string {
	if m.Dirty {
		return m.Commit + " (working tree modified)"
	}
	return m.Commit
}

func pinText(run *result.Run) string {
	if !run.Method.Taskset {
		return "off (--pin -1): pinned scenarios are absent"
	}
	text := fmt.Sprintf("\"pinned\" scenarios run client, server, backend and proxy all pinned to CPU %d (the path cost, no cross-CPU wake-ups); \"unpinned\" ones let the scheduler place them", run.Method.PinCPU)
	if slices.ContainsFunc(run.Scenarios, func(sc *result.Scenario) bool { return sc.Split }) {
		text += fmt.Sprintf("; \"split\" ones pin the client to CPU %d and the server side (server, backend, proxy) to CPU %d: "+
			"one fixed placement, as if the client were another machine (left to the scheduler on 2 CPUs, rates and CPU per unit moved by 12-20 %% between repetitions, split by 1-5 %%)", run.Method.ClientCPU, run.Method.PinCPU)
	}
	return text
}

// matrix is the engine × scenario overview: each scenario's first
// headline metric.
func matrix(run *result.Run) section {
	s := section{level: 2, title: "Overview: target × scenario (first headline metric, median)"}
	targets := run.TargetsWhere(func(c *result.Cell) bool { return !corePoint(c) })
	t := table{head: append([]string{"scenario", "metric"}, targets...)}
	for _, sc := range run.Scenarios {
		if len(sc.Metrics) == 0 || sc.Group == result.GroupCores { // in "Cores"
			continue
		}
		m := sc.Metrics[0]
		id := sc.ID
		if sc.Headline {
			id += " ★"
		}
		row := []string{id, fmt.Sprintf("%s [%s]", m.Name, m.Unit)}
		for _, tg := range targets {
			c := sc.Cell(tg)
			switch {
			case c == nil:
				row = append(row, "")
			case c.Status != result.StatusOK:
				row = append(row, statusText(c))
			default:
				row = append(row, num(c.Summary[m.Name].Median))
			}
		}
		t.rows = append(t.rows, row)
	}
	s.tables = append(s.tables, t)
	s.paras = append(s.paras, "★ headline scenario (its engine/anchor ratios are the ones tracked between runs). "+
		"Blank: the target does not take part in that scenario. absent: not built, not installed, or unable to take part (the reason is under the scenario or in the targets table). FAILED: it ran and failed (reason under the scenario).")
	return s
}

// targetReasons are the targets absent from the whole run, with why.
func targetReasons(run *result.Run) map[string]string {
	out := map[string]string{}
	for _, ti := range run.Targets {
		if !ti.Available {
			out[ti.Name] = ti.Reason
		}
	}
	return out
}

// mainDriver is the client most engine cells of sc were driven by; a cell
// with another one is labelled with its own.
func mainDriver(sc *result.Scenario) string {
	n := map[string]int{}
	best := ""
	for _, c := range sc.Cells {
		if c.Kind == result.KindEngine && c.Driver != "" {
			n[c.Driver]++
			if n[c.Driver] > n[best] {
				best = c.Driver
			}
		}
	}
	return best
}

func scenarioSection(sc *result.Scenario, charts []string, runAbsent map[string]string) section {
	s := section{level: 3, title: sc.Title + " (`" + sc.ID + "`)", id: sectionID(sc.ID)}
	if sc.Note != "" {
		s.paras = append(s.paras, sc.Note)
	}
	t := table{head: []string{"target", "status"}}
	for _, m := range sc.Metrics {
		t.head = append(t.head, metricHead(m))
	}
	type ratioCol struct {
		metric result.MetricDef
		anchor string
	}
	var ratios []ratioCol
	for _, a := range sc.Anchors {
		if ac := sc.Cell(a); ac == nil || ac.Status != result.StatusOK {
			continue
		}
		for _, m := range sc.Metrics {
			if m.Headline && sc.Divides(a, m) {
				ratios = append(ratios, ratioCol{m, a})
				t.head = append(t.head, fmt.Sprintf("%s ÷ %s", m.Name, a))
			}
		}
	}
	added := sc.Group == "proxy" && strings.HasPrefix(sc.ID, "proxy-pingpong") && sc.Cell("direct") != nil
	if added {
		t.head = append(t.head, "added p50 vs direct [µs]")
	}
	var problems []string
	for _, c := range sc.Cells {
		row := []string{c.Target, statusText(c)}
		if c.Kind == result.KindAnchor {
			row[0] += " (anchor)"
		}
		if c.Kind == result.KindEngine && c.Driver != "" && c.Driver != mainDriver(sc) {
			row[0] += " (client: " + c.Driver + ")"
		}
		for _, m := range sc.Metrics {
			row = append(row, summaryText(c.Summary[m.Name]))
		}
		for _, rc := range ratios {
			if c.Status != result.StatusOK || c.Target == rc.anchor {
				row = append(row, "")
				continue
			}
			row = append(row, ratioText(c.Summary[rc.metric.Name], sc.Cell(rc.anchor).Summary[rc.metric.Name]))
		}
		if added {
			d := sc.Cell("direct")
			if c.Status == result.StatusOK && d.Status == result.StatusOK && c.Target != "direct" {
				row = append(row, num(c.Summary["p50_us"].Median-d.Summary["p50_us"].Median))
			} else {
				row = append(row, "")
			}
		}
		t.rows = append(t.rows, row)
		// Targets absent from the whole run are explained once, in the
		// targets table; one absent from this scenario only, here.
		if c.Status == result.StatusFailed || (c.Status == result.StatusAbsent && runAbsent[c.Target] == "" && c.Reason != "") {
			problems = append(problems, fmt.Sprintf("%s %s: %s", c.Target, c.Status, esc(c.Reason)))
		}
	}
	s.tables = append(s.tables, t)
	if strings.HasPrefix(sc.ID, "msgr-throttle") {
		problems = append(problems, throttleVerdicts(sc)...)
	}
	s.after = problems
	s.images = charts
	return s
}

// ceiling reports the load generators against the raw server and their
// own CPU use everywhere.
func ceiling(run *result.Run) section {
	s := section{level: 2, title: "Load generator ceiling"}
	s.paras = append(s.paras, "The raw-tcp and direct cells are the load generators against the harness's minimal server: "+
		"no engine can look faster than these. client_cores near 1 in any cell means the load generator was saturated there.")
	t := table{head: []string{"scenario", "target", "headline", "client_cores"}}
	for _, sc := range run.Scenarios {
		for _, c := range sc.Cells {
			if c.Status != result.StatusOK || (c.Target != "raw-tcp" && c.Target != "direct") || len(sc.Metrics) == 0 {
				continue
			}
			m := sc.Metrics[0]
			t.rows = append(t.rows, []string{sc.ID, c.Target, fmt.Sprintf("%s %s", summaryText(c.Summary[m.Name]), m.Unit), summaryText(c.Summary["client_cores"])})
		}
	}
	s.tables = append(s.tables, t)
	return s
}

func targetsSection(run *result.Run) section {
	s := section{level: 2, title: "Targets and tuning"}
	t := table{head: []string{"target", "kind", "available", "version", "tuning"}}
	for _, ti := range run.Targets {
		var tun []string
		keys := make([]string, 0, len(ti.Tuning))
		for k := range ti.Tuning {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			tun = append(tun, k+": "+ti.Tuning[k])
		}
		avail := "yes"
		if !ti.Available {
			avail = "no: " + ti.Reason
		}
		t.rows = append(t.rows, []string{ti.Name, ti.Kind, esc(avail), esc(ti.Version), esc(strings.Join(tun, "; "))})
	}
	s.tables = append(s.tables, t)
	// The exact server command lines, deduplicated.
	cmds := map[string]bool{}
	var list []string
	for _, sc := range run.Scenarios {
		for _, c := range sc.Cells {
			if c.Server != "" && !cmds[c.Server] {
				cmds[c.Server] = true
				list = append(list, "`"+c.Server+"`")
			}
		}
	}
	sort.Strings(list)
	if len(list) > 0 {
		s.paras = append(s.paras, "Server command lines used: "+strings.Join(list, ", "))
	}
	return s
}

// throttleVerdicts checks the acceptance bound of the throttling scenario
// for every engine: bytes held never above the limit plus one message, in
// any repetition.
func throttleVerdicts(sc *result.Scenario) []string {
	limit, _ := strconv.ParseFloat(sc.Params["throttle_bytes"], 64)
	size, _ := strconv.ParseFloat(sc.Params["size"], 64)
	if limit <= 0 {
		return nil
	}
	bound := (limit + size) / limit
	var out []string
	for _, c := range sc.Cells {
		if c.Status != result.StatusOK {
			continue
		}
		vs := c.Values("held_max_over_limit")
		if len(vs) == 0 {
			out = append(out, c.Target+": held bytes not measured (no byte-throttle gauge on the server's --metrics, or --metrics unsupported)")
			continue
		}
		worst := vs[0]
		for _, v := range vs {
			worst = max(worst, v)
		}
		verdict := "within"
		if worst > bound {
			verdict = "**ABOVE**"
		}
		out = append(out, fmt.Sprintf("%s: highest bytes held in any repetition = %s× limit, %s the bound limit + one message = %s× limit",
			c.Target, num(worst), verdict, num(bound)))
	}
	for _, c := range sc.Cells {
		if c.Status != result.StatusOK {
			continue
		}
		p50, ok50 := c.Summary["wakeup_p50_us"]
		p99, ok99 := c.Summary["wakeup_p99_us"]
		if !ok50 || !ok99 {
			out = append(out, c.Target+": wake-up latency after release not measured (no msgr_throttle_wakeup_seconds on the server's --metrics, or no reader was woken)")
			continue
		}
		n := ""
		if w, ok := c.Summary["wakeups"]; ok {
			n = fmt.Sprintf(" (%s wake-ups per repetition)", num(w.Median))
		}
		out = append(out, fmt.Sprintf("%s: wake-up latency after a throttle release (release → paused reader running again), median over repetitions: p50 %s µs, p99 %s µs%s",
			c.Target, num(p50.Median), num(p99.Median), n))
	}
	return out
}

// ratioMatrix is engine ÷ anchor for the headline scenarios' first
// headline metric: the figures a reader quotes.
func ratioMatrix(run *result.Run) section {
	s := section{level: 2, title: "Headline ratios: engine ÷ anchor (median, with the bounds of both CIs)"}
	engines := run.TargetsWhere(func(c *result.Cell) bool { return c.Kind == result.KindEngine && !corePoint(c) })
	t := table{head: append([]string{"scenario", "metric", "÷ anchor"}, engines...)}
	for _, sc := range run.Scenarios {
		if !sc.Headline || len(sc.Metrics) == 0 {
			continue
		}
		m := sc.Metrics[0]
		for _, a := range sc.Anchors {
			ac := sc.Cell(a)
			if ac == nil || ac.Status != result.StatusOK || !sc.Divides(a, m) {
				continue
			}
			row := []string{sc.ID, fmt.Sprintf("%s [%s]", m.Name, m.Unit), a}
			for _, e := range engines {
				c := sc.Cell(e)
				switch {
				case c == nil:
					row = append(row, "")
				case c.Status != result.StatusOK:
					row = append(row, statusText(c))
				default:
					row = append(row, ratioText(c.Summary[m.Name], ac.Summary[m.Name]))
				}
			}
			t.rows = append(t.rows, row)
		}
	}
	s.tables = append(s.tables, t)
	s.paras = append(s.paras, "Below 1 is better for latency, CPU and memory figures; above 1 is better for rates and throughput (the arrows in the scenario tables). "+
		"direct has no proxy (its measured process is the backend), so it divides only the load's figures, rates and latencies, never a server's CPU or memory, here and in the scenario tables.")
	return s
}
