package proxy

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// counters are one frontend's, backend's or server's statistics, in
// HAProxy's terms (scur, stot, bin, bout, econ, qcur, …). They are atomics
// because sessions on different loops update them; a Prometheus collector
// reads them at scrape time, so the relay path never touches Prometheus.
type counters struct {
	scur   atomic.Int64 // current sessions
	stot   atomic.Int64 // sessions ever
	bin    atomic.Int64 // bytes from clients (request direction)
	bout   atomic.Int64 // bytes to clients (response direction)
	econ   atomic.Int64 // connect errors (backend/server)
	dcon   atomic.Int64 // connections denied by tcp-request rules (frontend)
	ereq   atomic.Int64 // bad PROXY headers and other request errors (frontend)
	dreq   atomic.Int64 // requests denied by tcp-request content rules
	wretr  atomic.Int64 // connect retries (backend/server)
	wredis atomic.Int64 // redispatches (backend/server)
	qcur   atomic.Int64 // sessions waiting in the queue
	chkfl  atomic.Int64 // failed health checks (server)
}

// Counters is a snapshot of one frontend's, backend's or server's
// statistics.
type Counters struct {
	Scur, Stot, Bin, Bout, Econ, Dcon, Dreq, Ereq, Wretr, Wredis, Qcur, ChkFail int64
}

func (c *counters) snapshot() Counters {
	return Counters{
		Scur: c.scur.Load(), Stot: c.stot.Load(), Bin: c.bin.Load(), Bout: c.bout.Load(),
		Econ: c.econ.Load(), Dcon: c.dcon.Load(), Dreq: c.dreq.Load(), Ereq: c.ereq.Load(), Wretr: c.wretr.Load(),
		Wredis: c.wredis.Load(), Qcur: c.qcur.Load(), ChkFail: c.chkfl.Load(),
	}
}

// collector exports the counters with the metric names of HAProxy's own
// Prometheus exporter (haproxy_frontend_*, haproxy_backend_*,
// haproxy_server_*), so dashboards built for HAProxy work unchanged.
type collector struct{ p *Proxy }

type metricDef struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*counters) int64
}

func defs(prefix string, labels []string) []metricDef {
	d := func(name, help string, kind prometheus.ValueType, v func(*counters) int64) metricDef {
		return metricDef{prometheus.NewDesc(prefix+name, help, labels, nil), kind, v}
	}
	g, c := prometheus.GaugeValue, prometheus.CounterValue
	out := []metricDef{
		d("current_sessions", "Number of current sessions.", g, func(x *counters) int64 { return x.scur.Load() }),
		d("sessions_total", "Total number of sessions.", c, func(x *counters) int64 { return x.stot.Load() }),
		d("bytes_in_total", "Bytes received from clients.", c, func(x *counters) int64 { return x.bin.Load() }),
		d("bytes_out_total", "Bytes sent to clients.", c, func(x *counters) int64 { return x.bout.Load() }),
	}
	switch prefix {
	case "haproxy_frontend_":
		out = append(out,
			d("denied_connections_total", "Connections denied by tcp-request connection rules.", c, func(x *counters) int64 { return x.dcon.Load() }),
			d("request_errors_total", "Request errors (invalid PROXY headers).", c, func(x *counters) int64 { return x.ereq.Load() }),
			d("requests_denied_total", "Requests denied by tcp-request content rules.", c, func(x *counters) int64 { return x.dreq.Load() }))
	default:
		out = append(out,
			d("connection_errors_total", "Failed connection attempts.", c, func(x *counters) int64 { return x.econ.Load() }),
			d("retry_warnings_total", "Connection retries.", c, func(x *counters) int64 { return x.wretr.Load() }),
			d("redispatch_warnings_total", "Redispatches to another server.", c, func(x *counters) int64 { return x.wredis.Load() }),
			d("current_queue", "Sessions waiting in the queue.", g, func(x *counters) int64 { return x.qcur.Load() }))
	}
	if prefix == "haproxy_server_" {
		out = append(out, d("check_failures_total", "Failed health checks.", c, func(x *counters) int64 { return x.chkfl.Load() }))
	}
	return out
}

var (
	feDefs      = defs("haproxy_frontend_", []string{"proxy"})
	beDefs      = defs("haproxy_backend_", []string{"proxy"})
	srvDefs     = defs("haproxy_server_", []string{"proxy", "server"})
	beUpDesc    = prometheus.NewDesc("haproxy_backend_status", "1 when at least one server is usable, else 0.", []string{"proxy"}, nil)
	beActDesc   = prometheus.NewDesc("haproxy_backend_active_servers", "Active servers that are up.", []string{"proxy"}, nil)
	srvUpDesc   = prometheus.NewDesc("haproxy_server_status", "Server status: 1 up, 0 down or disabled.", []string{"proxy", "server"}, nil)
	srvWgtDesc  = prometheus.NewDesc("haproxy_server_weight", "Server weight.", []string{"proxy", "server"}, nil)
	feLimitDesc = prometheus.NewDesc("haproxy_frontend_limit_sessions", "Frontend maxconn (0: none).", []string{"proxy"}, nil)
)

func (col collector) Describe(ch chan<- *prometheus.Desc) {
	for _, set := range [][]metricDef{feDefs, beDefs, srvDefs} {
		for _, d := range set {
			ch <- d.desc
		}
	}
	ch <- beUpDesc
	ch <- beActDesc
	ch <- srvUpDesc
	ch <- srvWgtDesc
	ch <- feLimitDesc
	describeTables(ch)
}

func (col collector) Collect(ch chan<- prometheus.Metric) {
	for _, fe := range col.p.frontends {
		for _, d := range feDefs {
			ch <- prometheus.MustNewConstMetric(d.desc, d.kind, float64(d.value(&fe.st)), fe.cfg.Name)
		}
		ch <- prometheus.MustNewConstMetric(feLimitDesc, prometheus.GaugeValue, float64(fe.maxconn), fe.cfg.Name)
	}
	for _, be := range col.p.backends {
		for _, d := range beDefs {
			ch <- prometheus.MustNewConstMetric(d.desc, d.kind, float64(d.value(&be.st)), be.cfg.Name)
		}
		act, usable := be.upCounts()
		ch <- prometheus.MustNewConstMetric(beUpDesc, prometheus.GaugeValue, b2f(usable > 0), be.cfg.Name)
		ch <- prometheus.MustNewConstMetric(beActDesc, prometheus.GaugeValue, float64(act), be.cfg.Name)
		for _, s := range be.servers {
			for _, d := range srvDefs {
				ch <- prometheus.MustNewConstMetric(d.desc, d.kind, float64(d.value(&s.st)), be.cfg.Name, s.cfg.Name)
			}
			ch <- prometheus.MustNewConstMetric(srvUpDesc, prometheus.GaugeValue, b2f(s.isUp()), be.cfg.Name, s.cfg.Name)
			ch <- prometheus.MustNewConstMetric(srvWgtDesc, prometheus.GaugeValue, float64(s.cfg.Weight), be.cfg.Name, s.cfg.Name)
		}
	}
	col.p.collectTables(ch)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
