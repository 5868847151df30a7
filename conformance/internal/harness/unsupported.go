package harness

// unsupported lists, per engine, the cases an engine truly cannot offer,
// with the reason. It is the only way a cell becomes "unsupported"; a
// failing case is never moved here to hide a bug. Every entry must cite the
// place in spec/ that states the limitation.
//
// Example entry:
//
//	"dpdk": {"proxy-half-close-client-first": "spec/engines.md §dpdk: ..."},
var unsupported = map[string]map[string]string{
	// gnet closes a connection when read() returns 0, so no write side
	// outlives the peer's FIN; every case that sends, shuts its write side
	// and then expects the other direction to keep flowing cannot pass.
	"gnet": {
		"proxy-half-close-client-first": gnetNoHalfClose,
		"proxy-half-close-server-first": gnetNoHalfClose,
		"proxy-half-close-both":         gnetNoHalfClose,
		"proxy-integrity-256mib":        gnetNoHalfClose + " (each side shuts its write side after 256 MiB while the other still sends)",
		"proxy-integrity-256mib-splice": gnetNoHalfClose + " (each side shuts its write side after 256 MiB while the other still sends)",
		"interop-haproxy-front":         gnetNoHalfClose + " (the 4 MiB echo ends with the client's shutw)",
		"interop-haproxy-behind":        gnetNoHalfClose + " (the 4 MiB echo ends with the client's shutw)",
		"proxy-stick-silent-drop":       noAborter,
		"proxy-softstop-hard-stop":      "spec/engine.md §17 (gnet): Listener.Close stops that listener's gnet engine, which also closes the connections it accepted (gnet cannot stop accepting otherwise), so a soft-stop cannot let sessions finish",
	},
	// bin/dpdk's userspace stack (gVisor netstack over one DPDK port) is
	// IPv4 only and has no loopback interface.
	"dpdk": {
		"msgr-accept-ipv6":        dpdkIPv4Only,
		"proxy-ready-ipv6":        dpdkIPv4Only,
		"proxy-stick-silent-drop": noAborter,
		"msgr-os-fd-exhaustion":   dpdkNoFDs,
		"proxy-os-fd-exhaustion":  dpdkNoFDs,
		"msgr-idle-10k":           dpdkFloodLatency,
		"proxy-idle-10k":          dpdkFloodLatency,
		"proxy-churn-100k":        "spec/engine.md §18 (dpdk), TIME_WAIT holds an endpoint: gVisor keeps each connection the proxy closes first (its server side) for 60 s, about 6.5 KiB each, and the memory returns only after TIME_WAIT and Go's next collection (up to 2 min later), not within the case's 20 s",
		"interop-rados-bench":     "spec/messenger.md Fake OSD: librados finds the OSD through the OSD map, whose entry a real ceph-osd registers at a kernel address; bin/dpdk's address belongs to its userspace stack, where no ceph-osd can run",
	},
	// The reference column (reference.go) runs a proxy case's configuration
	// on real haproxy 2.6. What it cannot run is the engines' command-line
	// contract around that configuration: flags, exit statuses, one-line
	// errors, the metrics listener.
	ReferenceName: {
		// The config-error cases and proxy-bind-in-use run on haproxy as
		// `haproxy -c -f` / `haproxy -f` and compare the refusal and the
		// file:line it names; only the flags case has nothing to compare.
		"proxy-bad-flags":     "spec/cli.md: the engines' flags (`proxy` without -f, unknown flags) and exit status 2 are their command-line contract; haproxy's command line is another one",
		"proxy-metrics":       "spec/cli.md `--metrics HOST:PORT` (the engines' Prometheus listener, last on READY): haproxy serves its exporter only from an http-mode frontend, which this tcp-only suite does not configure",
		"proxy-sigterm-exit0": "spec/cli.md Long-running commands (SIGTERM: exit 0 within 5 s) is the engines' contract; haproxy -db hard-stops on SIGTERM with its own exit status",
		// Not run rather than declared to differ: HAProxy 2.6 peeks at the
		// header and rejects whatever part it finds incomplete, so the
		// outcome depends on whether its read falls into the 200 ms gap,
		// and an unloaded run always does.
		"proxy-accept-split-header": "shared/spec/proxy-protocol-notes.md §5: HAProxy 2.6 rejects a header split over two segments (\"Truncated PROXY protocol header received\"); §4 recommends accepting it and DESIGN.md makes the engines' decoder incremental",
	},
}

// Difference is a reference cell that runs but is declared to behave
// otherwise than the case asserts: the spec chose differently from HAProxy
// 2.6, and Reason cites where. Observed is a substring of the case's first
// failure message on haproxy, so the cell checks the declared difference,
// not any failure.
type Difference struct {
	Reason   string
	Observed string
}

// differences lists, per reference, the cases it runs and is expected to
// fail, each citing the spec text that makes the difference deliberate.
var differences = map[string]map[string]Difference{
	ReferenceName: {
		"proxy-reject-v1-bad-ipv4":     haLenientV1("`256.0.2.10` is accepted as 0.0.2.10"),
		"proxy-reject-v1-leading-zero": haLenientV1("`192.0.2.010` is accepted"),
		"proxy-reject-v1-port-65536":   haLenientV1("port 65536 is accepted as 0"),
		"proxy-config-missing-backend": {
			Reason:   "spec/cli.md: every config error names file:line; HAProxy 2.6 resolves default_backend after parsing and names the proxy instead (\"Proxy 'fe': unable to find required default_backend: 'nosuch'.\"), still refusing the configuration.",
			Observed: "does not name bad.cfg:3",
		},
	},
}

// haLenientV1 is a v1 header the spec says is invalid and HAProxy 2.6
// accepts: the engines follow the spec, haproxy relays the connection.
func haLenientV1(what string) Difference {
	return Difference{
		Reason:   "shared/spec/proxy-protocol-notes.md §5 (lenient v1 parsing): in HAProxy 2.6 " + what + ", invalid per §2's grammar, which the engines follow.",
		Observed: "still open after",
	}
}

// differs reports whether engine is declared to differ on caseID.
func differs(engine, caseID string) (Difference, bool) {
	d, ok := differences[engine][caseID]
	return d, ok
}

const dpdkIPv4Only = "spec/engine.md §18 (dpdk): the DPDK port's stack is IPv4 only (Ethernet + ARP + IPv4; no NDP), so it cannot listen on [::1]"

const dpdkNoFDs = "spec/engine.md §18 (dpdk): connections are endpoints of the userspace stack, not kernel sockets, so RLIMIT_NOFILE does not bound them and accept never fails with EMFILE"

const dpdkFloodLatency = "spec/engine.md §18 (dpdk), 10,000 connections opening at once slow the others: the flood is handled (all closed by the timeout, RSS in bounds) but the legitimate client's p99 went over max(2× unloaded, +2 ms) on a quiet machine (proxy 335 µs → 3.37 ms; messenger 317 µs → 1.89 ms against 2.32 ms, too close to be a stable pass): gVisor runs every connection's handshake and timers in the process, beside the poll loop, and every segment leaves through one transmit lock"

const noAborter = "spec/engine.md §4 (Abort): the engine offers no engine.Aborter (no SO_LINGER 0 close), so silent-drop closes with a FIN"

const gnetNoHalfClose = "spec/engine.md §17 (gnet): gnet closes on read EOF, so the write side cannot outlive the peer's FIN"

// UnsupportedReason reports whether engine declared caseID unsupported.
func UnsupportedReason(engine, caseID string) (string, bool) {
	r, ok := unsupported[engine][caseID]
	return r, ok
}
