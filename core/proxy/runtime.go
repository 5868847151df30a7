package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/netmodels/netmodels/core/proxy/config"
	"github.com/netmodels/netmodels/core/proxy/runtimeapi"
)

// The runtime API's view of the proxy (runtimeapi.Proxy): statistics rows
// and the server changes an operator makes through "stats socket". Its
// methods run on API client goroutines; they read atomics and take the
// backend's mutex to change what the balancer reads.

// Version is what "show info" and "show version" report: the HAProxy
// behaviour this proxy implements, marked as not being HAProxy.
const Version = "2.6-netmodels"

type apiView struct{ p *Proxy }

var _ runtimeapi.Proxy = apiView{}

// RuntimeAPI is the proxy as the runtime API sees it (what "stats socket"
// serves), for callers that drive it without a socket.
func (p *Proxy) RuntimeAPI() runtimeapi.Proxy { return apiView{p} }

func (v apiView) Info() runtimeapi.Info {
	p := v.p
	var bout int64
	for _, fe := range p.frontends {
		bout += fe.st.bout.Load()
	}
	listeners := 0
	for _, fe := range p.frontends {
		listeners += len(fe.cfg.Binds)
	}
	listeners += len(p.cfg.Global.Stats.Sockets)
	return runtimeapi.Info{
		Name: "netmodels", Version: Version, Pid: os.Getpid(),
		Start: p.started, Now: p.clock.Now(),
		MaxConn: p.maxconn, CurrConns: int(p.live.Load()), CumConns: p.cumConns.Load(),
		Stopping: p.stopping.Load(), Listeners: listeners, BytesOut: bout,
	}
}

// StatRows lists, by proxy id (declaration order), a proxy's FRONTEND row,
// its servers and its BACKEND row, as HAProxy's "show stat".
func (v apiView) StatRows() []runtimeapi.StatRow {
	p := v.p
	now := p.clock.Now()
	type px struct {
		id int
		fe *frontend
		be *backend
	}
	byID := map[int]*px{}
	get := func(id int) *px {
		if byID[id] == nil {
			byID[id] = &px{id: id}
		}
		return byID[id]
	}
	for _, fe := range p.frontends {
		get(fe.cfg.ID).fe = fe
	}
	for _, be := range p.backends {
		get(be.cfg.ID).be = be
	}
	ids := make([]int, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	var rows []runtimeapi.StatRow
	for _, id := range ids {
		x := byID[id]
		if x.fe != nil {
			rows = append(rows, p.frontendRow(x.fe))
		}
		if x.be != nil {
			for _, s := range x.be.servers {
				rows = append(rows, s.statRow(now))
			}
			rows = append(rows, x.be.statRow())
		}
	}
	return rows
}

func (p *Proxy) frontendRow(fe *frontend) runtimeapi.StatRow {
	c := fe.st.snapshot()
	slim := fe.maxconn
	if slim == 0 {
		slim = p.maxconn
	}
	status := "OPEN"
	if p.stopping.Load() {
		status = "STOP"
	}
	return runtimeapi.StatRow{
		Type: runtimeapi.FrontendRow, Proxy: fe.cfg.Name, Name: "FRONTEND", IID: fe.cfg.ID,
		Scur: c.Scur, Stot: c.Stot, Bin: c.Bin, Bout: c.Bout, Ereq: c.Ereq, Dcon: c.Dcon,
		Slim: slim, Status: status, LastChg: -1,
	}
}

// statRow: HAProxy's backend status is UP while some server takes traffic
// (or there is no server at all); its weight and act/bck count the servers
// in use: the usable active ones, else the usable backups.
func (be *backend) statRow() runtimeapi.StatRow {
	c := be.st.snapshot()
	act, bck, wAct, wBck := 0, 0, 0, 0
	for _, s := range be.servers {
		if !s.usable() {
			continue
		}
		if s.cfg.Backup {
			bck++
			wBck += s.curWeight()
		} else {
			act++
			wAct += s.curWeight()
		}
	}
	w := wAct
	if act == 0 {
		w = wBck
	}
	status := "UP"
	if w == 0 && len(be.servers) > 0 {
		status = "DOWN"
	}
	return runtimeapi.StatRow{
		Type: runtimeapi.BackendRow, Proxy: be.cfg.Name, Name: "BACKEND", IID: be.cfg.ID,
		Qcur: c.Qcur, Scur: c.Scur, Stot: c.Stot, Bin: c.Bin, Bout: c.Bout, Econ: c.Econ,
		Wretr: c.Wretr, Wredis: c.Wredis, Status: status, Weight: w, UWeight: w,
		Act: act, Bck: bck, LastChg: -1, Algo: be.cfg.Balance.String(),
	}
}

// checked: a health check runs for the server (set by Start).
func (s *server) checked() bool { return s.checking.Load() }

// health is HAProxy's check health counter: rise+fall-1 when up and
// stable, one less per consecutive failure; while down, the consecutive
// successes (the server is up from rise on).
func (s *server) health() int {
	if s.up.Load() {
		return s.cfg.Rise + s.cfg.Fall - 1 - int(s.chkFails.Load())
	}
	return int(s.chkOks.Load())
}

// status is HAProxy's server status text (stats_fill_sv_stats): a checked
// server on its way down shows "UP 2/3" (checks left before down / fall),
// on its way up "DOWN 1/2" (successes / rise).
func (s *server) status() string {
	checked := s.checked()
	switch {
	case s.adminState() == runtimeapi.Maint:
		return "MAINT"
	case !s.up.Load():
		if n := s.chkOks.Load(); checked && n > 0 {
			return fmt.Sprintf("DOWN %d/%d", n, s.cfg.Rise)
		}
		return "DOWN"
	}
	word := "UP"
	if s.adminState() == runtimeapi.Drain {
		word = "DRAIN"
	}
	if f := int(s.chkFails.Load()); checked && f > 0 {
		return fmt.Sprintf("%s %d/%d", word, s.cfg.Fall-f, s.cfg.Fall)
	}
	if word == "UP" && !checked {
		return "no check"
	}
	return word
}

func (s *server) statRow(now time.Time) runtimeapi.StatRow {
	c := s.st.snapshot()
	r := runtimeapi.StatRow{
		Type: runtimeapi.ServerRow, Proxy: s.be.cfg.Name, Name: s.cfg.Name, IID: s.be.cfg.ID, SID: s.id,
		Qcur: c.Qcur, Scur: c.Scur, Stot: c.Stot, Bin: c.Bin, Bout: c.Bout, Econ: c.Econ,
		Wretr: c.Wretr, Wredis: c.Wredis, Slim: s.cfg.MaxConn, Qlimit: s.cfg.MaxQueue,
		Status: s.status(), Weight: s.curWeight(), UWeight: s.curWeight(),
		LastChg: int64(now.Sub(time.Unix(0, s.lastChange.Load())) / time.Second),
		Addr:    joinAddr(s.cfg.Host, s.cfg.Port),
	}
	if s.cfg.Backup {
		r.Bck = 1
	} else {
		r.Act = 1
	}
	if s.checked() && s.adminState() != runtimeapi.Maint {
		r.Check = true
		r.ChkFail, r.ChkDown = c.ChkFail, s.st.chkdwn.Load()
		r.CheckRise, r.CheckFall = s.cfg.Rise, s.cfg.Fall
		r.CheckHealth = s.health()
		if res := s.check.Load(); res != nil {
			r.CheckStatus, r.CheckDesc, r.LastChk = res.Status.String(), res.Status.Desc(), res.Desc
		}
	}
	return r
}

func (v apiView) server(be, srv string) (*server, error) {
	for _, b := range v.p.backends {
		if b.cfg.Name != be {
			continue
		}
		for _, s := range b.servers {
			if s.cfg.Name == srv {
				return s, nil
			}
		}
		return nil, runtimeapi.ErrNoServer
	}
	return nil, runtimeapi.ErrNoBackend
}

func (v apiView) ServerWeight(be, srv string) (cur, initial int, err error) {
	s, err := v.server(be, srv)
	if err != nil {
		return 0, 0, err
	}
	return s.curWeight(), s.cfg.Weight, nil
}

func (v apiView) SetServerWeight(be, srv string, w int) error {
	s, err := v.server(be, srv)
	if err != nil {
		return err
	}
	if s.be.staticLB() && w != 0 && w != s.cfg.Weight {
		return runtimeapi.ErrStaticWeight
	}
	s.setWeight(w)
	return nil
}

// staticLB: HAProxy's static algorithms (static-rr, and map-based
// hashing for balance source) build their server map from the initial
// weights, so a server's weight can only drop to 0 and come back.
func (be *backend) staticLB() bool {
	return be.cfg.Balance == config.StaticRR || be.cfg.Balance == config.Source && be.cfg.HashType == config.MapBased
}

func (v apiView) SetServerAdmin(be, srv string, a runtimeapi.Admin) error {
	s, err := v.server(be, srv)
	if err != nil {
		return err
	}
	s.setAdmin(a)
	return nil
}

// ServersState lists every server for "show servers state".
func (v apiView) ServersState() []runtimeapi.ServerState {
	now := v.p.clock.Now()
	var out []runtimeapi.ServerState
	for _, be := range v.p.backends {
		for _, s := range be.servers {
			st := runtimeapi.ServerState{
				BackendID: be.cfg.ID, Backend: be.cfg.Name, ID: s.id, Name: s.cfg.Name,
				Host: s.cfg.Host, Port: s.cfg.Port, Running: s.isUp(), Admin: s.adminState(),
				ConfigMaint: s.cfg.Disabled, UWeight: s.curWeight(), IWeight: s.cfg.Weight,
				LastChange: int64(now.Sub(time.Unix(0, s.lastChange.Load())) / time.Second),
				Checked:    s.checked(), Rise: s.cfg.Rise,
				CheckPort: s.cfg.CheckPort, CheckAddr: s.cfg.CheckAddr, UseSSL: s.tlsCfg != nil,
			}
			if _, err := netip.ParseAddr(s.cfg.Host); err != nil {
				st.FQDN = s.cfg.Host
			}
			// HAProxy reports no health while in maintenance.
			if st.Admin != runtimeapi.Maint {
				st.CheckHealth = s.health()
			}
			if res := s.check.Load(); res != nil {
				st.CheckStatus, st.CheckPassed = res.Status.String(), res.Status.Pass()
			}
			out = append(out, st)
		}
	}
	return out
}

// Tables: the stick tables (runtime_tables.go).
func (v apiView) Tables() []runtimeapi.Table { return v.p.apiTables() }

// setWeight changes the weight the balancer uses from the next pick on;
// sessions already on the server stay. Queued sessions may now fit.
func (s *server) setWeight(w int) {
	be := s.be
	be.mu.Lock()
	// The balancing structures see the new weight at the next pick
	// (lbMap.update, chashRing.stale).
	s.weight.Store(int32(w))
	be.mu.Unlock()
	be.pump()
}

// setAdmin applies HAProxy's administrative states: maint takes no
// session at all and stops the health checks; drain takes only sessions
// that insist on the server (retries, persistence); ready is normal.
// Sessions already on the server stay in every case. Leaving maint, a
// checked server is up at once, one failed check from down ("UP 1/3"), and
// checked again (HAProxy).
func (s *server) setAdmin(a runtimeapi.Admin) {
	be, p := s.be, s.be.p
	be.mu.Lock()
	old := runtimeapi.Admin(s.admin.Swap(int32(a)))
	if old == runtimeapi.Maint && a != runtimeapi.Maint {
		s.up.Store(true)
		if s.checked() {
			s.chkFails.Store(int32(s.cfg.Fall - 1))
			s.chkOks.Store(0)
			s.rearm.Store(true)
		}
	}
	be.mu.Unlock()
	if old == a {
		return
	}
	s.lastChange.Store(p.clock.Now().UnixNano())
	switch a {
	case runtimeapi.Maint:
		p.logf("Server %s/%s is going DOWN for maintenance.", be.cfg.Name, s.cfg.Name)
	case runtimeapi.Drain:
		p.logf("Server %s/%s enters drain state.", be.cfg.Name, s.cfg.Name)
	default:
		p.logf("Server %s/%s is UP/READY (leaving forced maintenance).", be.cfg.Name, s.cfg.Name)
	}
	be.pump()
}

// joinAddr is a server's address as "show stat" prints it ("[v6]:port").
func joinAddr(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
