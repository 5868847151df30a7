package proxy

import (
	"sort"

	"github.com/netmodels/netmodels/core/proxy/config"
	"github.com/netmodels/netmodels/core/proxy/sticktable"
	"github.com/prometheus/client_golang/prometheus"
)

// Stick tables at run time: one sticktable.Table per "stick-table" line,
// shared by every loop. A session tracks at most maxSC entries (HAProxy's
// sc0..sc2: MAX_SESS_STKCTR = 3), holds them until it ends, and counts its
// bytes into them; "stick" rules read and store server ids.

// maxSC is the number of stick counters per session (track-sc0..sc2).
const maxSC = 3

// stickCtr is one tracked counter of a session.
type stickCtr struct {
	t *sticktable.Table
	e *sticktable.Entry
}

// newTables builds the run-time tables of cfg.
func (p *Proxy) newTables(cfg *config.Config) error {
	p.tables = map[string]*sticktable.Table{}
	for _, tc := range cfg.Tables {
		t, err := sticktable.New(tc.Config, p.clock)
		if err != nil {
			return err
		}
		p.tables[tc.Name] = t
		p.tableList = append(p.tableList, t)
	}
	// HAProxy's "show table" lists the tables by name.
	sort.Slice(p.tableList, func(i, j int) bool { return p.tableList[i].Name() < p.tableList[j].Name() })
	return nil
}

// Table returns the stick table called name (the proxy that declares it),
// or nil: for the runtime API's "show table NAME" and "clear table NAME".
func (p *Proxy) Table(name string) *sticktable.Table { return p.tables[name] }

// Tables returns every stick table sorted by name, the order of HAProxy's
// "show table".
func (p *Proxy) Tables() []*sticktable.Table { return p.tableList }

// table is the run-time table of a configured one (nil for nil).
func (p *Proxy) table(tc *config.StickTable) *sticktable.Table {
	if tc == nil {
		return nil
	}
	return p.tables[tc.Name]
}

// track makes counter n track key k in t, unless it already tracks
// something (HAProxy keeps the first tracking of a counter). false: the
// table had no room for the key (full of entries held by sessions).
func (s *session) track(n int, t *sticktable.Table, k sticktable.Key) bool {
	if n < 0 || n >= maxSC || s.sc[n].e != nil {
		return true
	}
	e := t.Track(k)
	if e == nil {
		return false
	}
	s.sc[n] = stickCtr{t: t, e: e}
	if e.CountsBytes() {
		s.scBytes = true
	}
	return true
}

// untrackAll ends the session's tracking: conn_cur goes down and the
// entries become evictable again (HAProxy's session_store_counters).
func (s *session) untrackAll() {
	for i := range s.sc {
		if c := s.sc[i]; c.e != nil {
			c.t.Untrack(c.e)
			s.sc[i] = stickCtr{}
		}
	}
	s.scBytes = false
}

// countSC adds relayed bytes to the tracked entries that store bytes
// counters: one short per-entry lock per read, no table lock.
func (s *session) countSC(in bool, n int) {
	now := s.p.clock.Now()
	for _, c := range s.sc {
		if c.e == nil {
			continue
		}
		if in {
			c.e.AddBytesIn(n, now)
		} else {
			c.e.AddBytesOut(n, now)
		}
	}
}

// incSess counts an accepted session in the tracked entries (sess_cnt,
// sess_rate), once the connection rules let it in.
func (s *session) incSess() {
	now := s.p.clock.Now()
	for _, c := range s.sc {
		if c.e != nil {
			c.e.IncSess(now)
		}
	}
}

// StickCtr is the entry tracked by counter n (track-scN), nil if none:
// the sc*_ fetches read it.
func (s *session) StickCtr(n int) *sticktable.Entry {
	if n < 0 || n >= maxSC {
		return nil
	}
	return s.sc[n].e
}

// StickTable is the stick table called name, or the session's frontend
// table when name is "": the src_* fetches read it.
func (s *session) StickTable(name string) *sticktable.Table {
	if name == "" {
		return s.p.table(s.fe.cfg.Table)
	}
	return s.p.tables[name]
}

// Metrics: HAProxy's exporter has haproxy_sticktable_size and _used
// (labels name, type); evictions and expiries are this proxy's own.
var (
	stSizeDesc    = prometheus.NewDesc("haproxy_sticktable_size", "Stick table size.", []string{"name", "type"}, nil)
	stUsedDesc    = prometheus.NewDesc("haproxy_sticktable_used", "Number of entries used in this stick table.", []string{"name", "type"}, nil)
	stEvictedDesc = prometheus.NewDesc("haproxy_sticktable_evicted_total", "Entries evicted to make room for a new key (least recently used, unreferenced).", []string{"name", "type"}, nil)
	stExpiredDesc = prometheus.NewDesc("haproxy_sticktable_expired_total", "Entries removed because they expired.", []string{"name", "type"}, nil)
	stRefusedDesc = prometheus.NewDesc("haproxy_sticktable_refused_total", "New keys not stored: the table was full of entries held by sessions.", []string{"name", "type"}, nil)
)

func describeTables(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{stSizeDesc, stUsedDesc, stEvictedDesc, stExpiredDesc, stRefusedDesc} {
		ch <- d
	}
}

func (p *Proxy) collectTables(ch chan<- prometheus.Metric) {
	for _, t := range p.tableList {
		n := t.Name()
		st := t.Stats()
		typ := t.Config().Type.String()
		ch <- prometheus.MustNewConstMetric(stSizeDesc, prometheus.GaugeValue, float64(st.Size), n, typ)
		ch <- prometheus.MustNewConstMetric(stUsedDesc, prometheus.GaugeValue, float64(st.Used), n, typ)
		ch <- prometheus.MustNewConstMetric(stEvictedDesc, prometheus.CounterValue, float64(st.Evicted), n, typ)
		ch <- prometheus.MustNewConstMetric(stExpiredDesc, prometheus.CounterValue, float64(st.Expired), n, typ)
		ch <- prometheus.MustNewConstMetric(stRefusedDesc, prometheus.CounterValue, float64(st.Refused), n, typ)
	}
}
