package loadgen

import (
	"sync"
	"syscall"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/netmodels/netmodels/perf/stats"
)

// Result is what a `perf loadgen` subprocess prints as one JSON object.
type Result struct {
	Kind    string  `json:"kind"`
	Addr    string  `json:"addr"`
	Conns   int     `json:"conns"`
	Size    int     `json:"size,omitempty"`
	Depth   int     `json:"depth,omitempty"`
	Mode    string  `json:"mode,omitempty"` // closed | open
	Rate    float64 `json:"rate,omitempty"` // intended msgs/s in open-loop mode
	Seconds float64 `json:"seconds"`
	Ops     int64   `json:"ops"`
	Bytes   int64   `json:"bytes"`
	Errors  int64   `json:"errors"`
	OpsPerS float64 `json:"ops_per_s"`
	// BytesPerS counts payload bytes one way (what the receiver got).
	BytesPerS float64            `json:"bytes_per_s"`
	Latency   *stats.Percentiles `json:"latency,omitempty"`
	// Hist is the merged latency histogram (ns), V2 compressed base64.
	Hist    string    `json:"hist,omitempty"`
	PerConn []float64 `json:"per_conn_ops_per_s,omitempty"`
	// CPU seconds the load generator itself used (rusage).
	CPUUser float64 `json:"cpu_user_s"`
	CPUSys  float64 `json:"cpu_sys_s"`
	Err     string  `json:"error,omitempty"`
}

// Finish fills the derived fields: rates, percentiles, the encoded
// histogram and the process's own CPU time.
func (r *Result) Finish(elapsed time.Duration, h *hdr.Histogram) {
	r.Seconds = elapsed.Seconds()
	if r.Seconds > 0 {
		r.OpsPerS = float64(r.Ops) / r.Seconds
		r.BytesPerS = float64(r.Bytes) / r.Seconds
	}
	if h != nil && h.TotalCount() > 0 {
		p := stats.PercentilesOf(h)
		r.Latency = &p
		if s, err := stats.EncodeHist(h); err == nil {
			r.Hist = s
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		r.CPUUser = time.Duration(ru.Utime.Nano()).Seconds()
		r.CPUSys = time.Duration(ru.Stime.Nano()).Seconds()
	}
}

// histSet merges per-connection histograms without a lock on the hot path.
type histSet struct {
	mu  sync.Mutex
	all *hdr.Histogram
}

func newHistSet() *histSet { return &histSet{all: stats.NewLatencyHist()} }

func (s *histSet) merge(h *hdr.Histogram) {
	s.mu.Lock()
	s.all.Merge(h)
	s.mu.Unlock()
}
