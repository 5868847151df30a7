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
	},
	// bin/dpdk's userspace stack (gVisor netstack over one DPDK port) is
	// IPv4 only and has no loopback interface.
	"dpdk": {
		"msgr-accept-ipv6":        dpdkIPv4Only,
		"proxy-ready-ipv6":        dpdkIPv4Only,
		"proxy-stick-silent-drop": noAborter,
	},
}

const dpdkIPv4Only = "spec/engine.md §18 (dpdk): the DPDK port's stack is IPv4 only (Ethernet + ARP + IPv4; no NDP), so it cannot listen on [::1]"

const noAborter = "spec/engine.md §4 (Abort): the engine offers no engine.Aborter (no SO_LINGER 0 close), so silent-drop closes with a FIN"

const gnetNoHalfClose = "spec/engine.md §17 (gnet): gnet closes on read EOF, so the write side cannot outlive the peer's FIN"

// UnsupportedReason reports whether engine declared caseID unsupported.
func UnsupportedReason(engine, caseID string) (string, bool) {
	r, ok := unsupported[engine][caseID]
	return r, ok
}
