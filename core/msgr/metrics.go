package msgr

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netmodels/netmodels/core/throttle"
)

// collector exports the counters of every messenger attached to one
// registry, summed, named after Ceph's AsyncMessenger perf counters
// (msgr_send_messages, msgr_recv_bytes, msgr_active_connections, ...).
type collector struct {
	mu    sync.Mutex
	msgrs map[*Messenger]struct{}
	wait  *prometheus.HistogramVec
	// wakeup is release → paused reader running again, per throttle. Ten
	// buckets per decade from 1 µs to 1 s: fine enough for the harness to
	// read p50/p99 within about ±13 % (a bucket is 26 % wide), which the
	// wait histogram's ×4 buckets are not.
	wakeup *prometheus.HistogramVec
}

var (
	regMu      sync.Mutex
	collectors = map[prometheus.Registerer]*collector{}
)

func attachCollector(reg prometheus.Registerer) *collector {
	regMu.Lock()
	defer regMu.Unlock()
	if c := collectors[reg]; c != nil {
		return c
	}
	c := &collector{msgrs: map[*Messenger]struct{}{}, wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "msgr_throttle_wait_seconds",
		Help:    "How long a connection's reader waited for throttle capacity.",
		Buckets: prometheus.ExponentialBuckets(1e-6, 4, 14),
	}, []string{"throttle"}), wakeup: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "msgr_throttle_wakeup_seconds",
		Help:    "Wake-up latency: from the throttle release that granted a paused connection reader to that reader running again on its loop.",
		Buckets: prometheus.ExponentialBucketsRange(1e-6, 1, 61),
	}, []string{"throttle"})}
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if ex, ok := are.ExistingCollector.(*collector); ok {
				c = ex
			}
		}
	}
	collectors[reg] = c
	return c
}

func (c *collector) add(m *Messenger)    { c.mu.Lock(); c.msgrs[m] = struct{}{}; c.mu.Unlock() }
func (c *collector) remove(m *Messenger) { c.mu.Lock(); delete(c.msgrs, m); c.mu.Unlock() }

func (c *collector) observeWait(name string, d time.Duration) {
	c.wait.WithLabelValues(name).Observe(d.Seconds())
}

func (c *collector) observeWakeup(name string, d time.Duration) {
	c.wakeup.WithLabelValues(name).Observe(d.Seconds())
}

type metricDef struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	val  func(m *Messenger) float64
}

func counter(name, help string, f func(m *Messenger) float64) metricDef {
	return metricDef{prometheus.NewDesc(name, help, nil, nil), prometheus.CounterValue, f}
}

func gauge(name, help string, f func(m *Messenger) float64) metricDef {
	return metricDef{prometheus.NewDesc(name, help, nil, nil), prometheus.GaugeValue, f}
}

var defs = []metricDef{
	counter("msgr_send_messages_total", "Messages written to sockets.", func(m *Messenger) float64 { return float64(m.ep.C.MsgsSent.Load()) }),
	counter("msgr_send_bytes_total", "Payload bytes written.", func(m *Messenger) float64 { return float64(m.ep.C.BytesSent.Load()) }),
	counter("msgr_recv_messages_total", "Messages received (after duplicate drop).", func(m *Messenger) float64 { return float64(m.ep.C.MsgsReceived.Load()) }),
	counter("msgr_recv_bytes_total", "Payload bytes received.", func(m *Messenger) float64 { return float64(m.ep.C.BytesReceived.Load()) }),
	gauge("msgr_active_connections", "Open sockets.", func(m *Messenger) float64 { return float64(m.ep.C.ConnectionsOpen.Load()) }),
	counter("msgr_accepted_connections_total", "Sockets accepted.", func(m *Messenger) float64 { return float64(m.ep.C.Accepted.Load()) }),
	counter("msgr_connects_total", "Connect attempts started.", func(m *Messenger) float64 { return float64(m.ep.C.Connects.Load()) }),
	counter("msgr_sessions_opened_total", "Handshakes completed (READY/SEQ).", func(m *Messenger) float64 { return float64(m.ep.C.SessionsOpened.Load()) }),
	counter("msgr_faults_total", "Socket faults seen by sessions.", func(m *Messenger) float64 { return float64(m.ep.C.Faults.Load()) }),
	counter("msgr_reconnects_total", "Reconnects after a fault or back-off.", func(m *Messenger) float64 { return float64(m.ep.C.Reconnects.Load()) }),
	counter("msgr_duplicates_dropped_total", "Received messages dropped as seq <= in_seq.", func(m *Messenger) float64 { return float64(m.ep.C.DuplicatesDropped.Load()) }),
	counter("msgr_resent_messages_total", "Unacked messages requeued for resend.", func(m *Messenger) float64 { return float64(m.ep.C.Resent.Load()) }),
	counter("msgr_bad_input_total", "Sockets closed for malformed input or protocol errors.", func(m *Messenger) float64 { return float64(m.ep.C.BadInput.Load()) }),
	counter("msgr_injected_failures_total", "Socket failures injected.", func(m *Messenger) float64 { return float64(m.ep.C.InjectedFailures.Load()) }),
	counter("msgr_keepalives_received_total", "KEEPALIVE/KEEPALIVE2 frames received.", func(m *Messenger) float64 { return float64(m.ep.C.KeepalivesReceived.Load()) }),
	counter("msgr_throttled_reads_total", "Times a reader paused for a throttle.", func(m *Messenger) float64 { return float64(m.ep.C.ThrottledReads.Load()) }),
	counter("msgr_out_queue_full_total", "Sends refused because a session's out-queue (queued plus sent-and-unacked) was at its bound: a peer that neither reads nor acknowledges.", func(m *Messenger) float64 { return float64(m.ep.C.OutQueueFull.Load()) }),
	counter("msgr_body_timeouts_total", "Sockets closed because a message body made no progress for the body-progress timeout (its throttle reservations returned).", func(m *Messenger) float64 { return float64(m.ep.C.BodyTimeouts.Load()) }),
	gauge("msgr_dispatch_queue_len", "Messages and events waiting for the dispatcher.", func(m *Messenger) float64 { return float64(m.dq.len()) }),
}

var (
	thCur   = prometheus.NewDesc("msgr_throttle_current", "Amount held now.", []string{"throttle"}, nil)
	thMax   = prometheus.NewDesc("msgr_throttle_max", "Limit (0: unlimited).", []string{"throttle"}, nil)
	thPeak  = prometheus.NewDesc("msgr_throttle_peak", "Highest amount held so far.", []string{"throttle"}, nil)
	thWaits = prometheus.NewDesc("msgr_throttle_waits_total", "Requests that had to wait.", []string{"throttle"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range defs {
		ch <- d.desc
	}
	ch <- thCur
	ch <- thMax
	ch <- thPeak
	ch <- thWaits
	c.wait.Describe(ch)
	c.wakeup.Describe(ch)
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	ms := make([]*Messenger, 0, len(c.msgrs))
	for m := range c.msgrs {
		ms = append(ms, m)
	}
	c.mu.Unlock()
	for _, d := range defs {
		var v float64
		for _, m := range ms {
			v += d.val(m)
		}
		ch <- prometheus.MustNewConstMetric(d.desc, d.typ, v)
	}
	agg := map[string]*throttle.Stats{}
	for _, m := range ms {
		for _, t := range m.throttles() {
			s := t.Stats()
			a := agg[t.Name()]
			if a == nil {
				a = &throttle.Stats{}
				agg[t.Name()] = a
			}
			a.Current += s.Current
			a.Max += s.Max
			a.Peak = max(a.Peak, s.Peak)
			a.Waits += s.Waits
		}
	}
	for name, s := range agg {
		ch <- prometheus.MustNewConstMetric(thCur, prometheus.GaugeValue, float64(s.Current), name)
		ch <- prometheus.MustNewConstMetric(thMax, prometheus.GaugeValue, float64(s.Max), name)
		ch <- prometheus.MustNewConstMetric(thPeak, prometheus.GaugeValue, float64(s.Peak), name)
		ch <- prometheus.MustNewConstMetric(thWaits, prometheus.CounterValue, float64(s.Waits), name)
	}
	c.wait.Collect(ch)
	c.wakeup.Collect(ch)
}

// throttles lists the messenger's throttles that exist (policy throttles
// appear once their peer type has connected).
func (m *Messenger) throttles() []*throttle.Throttle {
	b, n := m.ep.DispatchThrottles()
	out := []*throttle.Throttle{b, n}
	out = append(out, m.ep.AllPolicyThrottles()...)
	return out
}
