package cli

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// newRegistry is the registry a --metrics endpoint serves: the command's
// own metrics plus the Go runtime's go_* (go_goroutines, go_threads,
// go_memstats_*, go_gc_duration_seconds), which `perf soak` samples to
// catch a goroutine leak. The collector reads runtime/metrics only when
// scraped (no stop-the-world).
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	return reg
}
