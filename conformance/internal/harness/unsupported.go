package harness

// unsupported lists, per engine, the cases an engine truly cannot offer,
// with the reason. It is the only way a cell becomes "unsupported"; a
// failing case is never moved here to hide a bug. Every entry must cite the
// place in spec/ that states the limitation.
//
// Example entry:
//
//	"dpdk": {"proxy-half-close-client-first": "spec/engines.md §dpdk: ..."},
var unsupported = map[string]map[string]string{}

// UnsupportedReason reports whether engine declared caseID unsupported.
func UnsupportedReason(engine, caseID string) (string, bool) {
	r, ok := unsupported[engine][caseID]
	return r, ok
}
