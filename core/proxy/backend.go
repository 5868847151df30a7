package proxy

import (
	"crypto/tls"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/netmodels/netmodels/core/proxy/config"
	"github.com/netmodels/netmodels/core/proxy/runtimeapi"
)

// ErrNoServer means no server of the backend is usable (all down,
// disabled or with weight 0): HAProxy's NOSRV. The client is closed.
var ErrNoServer = errors.New("proxy: no server available")

// ErrQueueFull means every usable server is at its maxconn and the
// backend's queue is at its limit. The client is closed.
var ErrQueueFull = errors.New("proxy: backend queue full")

// server is one backend server at run time.
type server struct {
	be  *backend
	cfg *config.Server
	// addr is cfg.Addr when the server line has a port (made once, not
	// per dial); "" when it has none and each session's destination
	// port decides (session.serverAddr).
	addr string
	st   counters
	// id is HAProxy's puid (server_id): the "id" keyword, else the
	// smallest free id from 1; show stat's sid.
	id int
	up atomic.Bool
	// admin is the administrative state (runtimeapi.Ready, Drain, Maint):
	// "disabled" in the configuration starts it in Maint, the runtime API
	// changes it. weight is the current weight (cfg.Weight is the initial
	// one). Both are written under be.mu and read without it by stats.
	admin  atomic.Int32
	weight atomic.Int32
	// lastChange is when the server last changed state (p.clock, Unix ns).
	lastChange atomic.Int64
	// checking: a checker runs for this server (set by Start).
	checking atomic.Bool
	// chkFails and chkOks copy the checker's consecutive failures (while
	// up) and successes (while down) after each check, for stats.
	chkFails, chkOks atomic.Int32
	// rearm asks the checker to start from HAProxy's lowest "up" health,
	// one failure from down: at start and just out of maintenance (set by
	// Start and setAdmin, applied by the checker).
	rearm atomic.Bool
	// tlsCfg is the TLS configuration for sessions ("ssl"), checkTLS the
	// one for health checks (check-ssl, or ssl without port/addr); nil:
	// plain.
	tlsCfg, checkTLS *tls.Config

	// Guarded by be.mu.
	cur   int // sessions assigned (connecting or established)
	rrCur int // smooth weighted round-robin state
	mark  uint64
	// sessions are the established sessions on this server, kept only
	// when a health check may have to close them (on-marked-down
	// shutdown-sessions, on-marked-up shutdown-backup-sessions).
	sessions map[*session]struct{}
	// Health-check state, touched only by this server's checker.
	fails, oks int
	check      atomic.Pointer[CheckResult]
}

// isUp: health says up and not in maintenance. Such a server takes the
// sessions that insist on it (a retry without redispatch, persistence),
// even when draining or at weight 0, as in HAProxy.
func (s *server) isUp() bool { return s.up.Load() && s.adminState() != runtimeapi.Maint }

// usable: may take new sessions, capacity aside (HAProxy's
// srv_currently_usable: up, not draining, weight above 0).
func (s *server) usable() bool {
	return s.isUp() && s.adminState() == runtimeapi.Ready && s.curWeight() > 0
}

func (s *server) adminState() runtimeapi.Admin { return runtimeapi.Admin(s.admin.Load()) }

func (s *server) curWeight() int { return int(s.weight.Load()) }

func (s *server) hasRoom() bool { return s.cfg.MaxConn == 0 || s.cur < s.cfg.MaxConn }

// backend is a server farm: selection, per-server slots and the queue of
// sessions waiting for a slot.
type backend struct {
	p       *Proxy
	cfg     *config.Backend
	servers []*server
	st      counters

	mu sync.Mutex
	// queue holds sessions waiting for a server slot, oldest first. Its
	// length is bounded by queueCap; a session arriving at the limit is
	// refused (ErrQueueFull).
	queue    []*session
	queueCap int
	lcNext   int // leastconn tie-break rotation

	// HAProxy's structures for static-rr, first and balance source
	// (lb.go): the server map, the servers by id, the hash ring.
	lbmap    *lbMap
	byID     []*server
	ring     *chashRing
	markGen  uint64
	tracking bool // servers keep their sessions (server.sessions)
}

func newBackend(p *Proxy, cfg *config.Backend, queueCap int) *backend {
	be := &backend{p: p, cfg: cfg, queueCap: queueCap}
	now := p.clock.Now().UnixNano()
	backups := false
	for i, sc := range cfg.Servers {
		id := sc.ID // the parser numbers servers without "id"
		if id == 0 {
			id = i + 1
		}
		s := &server{be: be, cfg: sc, id: id}
		if sc.Port != 0 {
			s.addr = sc.Addr(netip.AddrPort{})
		}
		if sc.SSL.Enabled || sc.CheckSSL {
			cfg := serverTLSConfig(&sc.SSL)
			if sc.SSL.Enabled {
				s.tlsCfg = cfg
			}
			if sc.CheckSSL || (sc.SSL.Enabled && sc.CheckPort == 0 && sc.CheckAddr == "") {
				s.checkTLS = cfg
				if sc.SSL.SNI != nil && sc.SSL.SNI.Kind == config.SNIConst {
					s.checkTLS = cfg.Clone()
					s.checkTLS.ServerName = sc.SSL.SNI.Value
				}
				if sc.CheckSNI != "" || sc.CheckALPN != nil {
					s.checkTLS = s.checkTLS.Clone()
					if sc.CheckSNI != "" {
						s.checkTLS.ServerName = sc.CheckSNI
					}
					if sc.CheckALPN != nil {
						s.checkTLS.NextProtos = sc.CheckALPN
					}
				}
			}
		}
		s.up.Store(true) // HAProxy starts servers up; checks take them down
		s.weight.Store(int32(sc.Weight))
		if sc.Disabled {
			s.admin.Store(int32(runtimeapi.Maint))
		}
		s.lastChange.Store(now)
		be.servers = append(be.servers, s)
		backups = backups || sc.Backup
	}
	for _, s := range be.servers {
		if s.cfg.ShutdownOnDown || (s.cfg.ShutdownBackupOnUp && backups) {
			be.tracking = true
		}
	}
	be.lbmap = newLBMap(be.servers)
	be.byID = slices.Clone(be.servers)
	slices.SortStableFunc(be.byID, func(a, b *server) int { return a.cfg.ID - b.cfg.ID })
	if cfg.Balance == config.Source && cfg.HashType == config.Consistent {
		be.ring = newCHashRing(be.servers)
	}
	return be
}

// upCounts returns the active servers that are up and the usable servers
// (active or backup).
func (be *backend) upCounts() (active, usable int) {
	for _, s := range be.servers {
		if s.usable() {
			usable++
			if !s.cfg.Backup {
				active++
			}
		}
	}
	return
}

// candidatesLocked returns the usable active servers, or the usable backup
// servers when no active one is usable (HAProxy's backup rule).
func (be *backend) candidatesLocked() []*server {
	var act, bak []*server
	for _, s := range be.servers {
		if !s.usable() {
			continue
		}
		if s.cfg.Backup {
			bak = append(bak, s)
		} else {
			act = append(act, s)
		}
	}
	if len(act) > 0 {
		return act
	}
	return bak
}

// pickLocked chooses a server with room for a client from src, avoiding
// avoid when another candidate exists (redispatch). It returns nil and
// whether any candidate exists at all (nil, true: all full → queue).
func (be *backend) pickLocked(src netip.Addr, avoid *server) (*server, bool) {
	cands := be.candidatesLocked()
	if len(cands) == 0 {
		return nil, false
	}
	if be.cfg.Balance == config.StaticRR {
		// The map holds every candidate; it skips avoid itself, so a
		// redispatch does not rebuild it.
		be.lbmap.update(cands)
		return be.lbmap.nextRR(avoid), true
	}
	if avoid != nil && len(cands) > 1 {
		out := cands[:0:0]
		for _, s := range cands {
			if s != avoid {
				out = append(out, s)
			}
		}
		cands = out
	}
	switch be.cfg.Balance {
	case config.Source:
		// HAProxy's get_server_sh over the map or the ring; a full
		// server queues the client rather than moving it, to keep
		// affinity.
		h := sourceHash(src, be.cfg.HashAvalanche)
		var s *server
		if be.ring != nil {
			if be.ring.stale(be.servers) {
				be.ring = newCHashRing(be.servers)
			}
			be.markGen++
			for _, c := range cands {
				c.mark = be.markGen
			}
			s = be.ring.lookup(h, func(x *server) bool { return x.mark == be.markGen })
		} else {
			be.lbmap.update(cands)
			s = be.lbmap.hash(h)
		}
		if s != nil && s.hasRoom() {
			return s, true
		}
		return nil, true
	case config.First:
		// The first server by id with a free slot (lb_fas.c).
		be.markGen++
		for _, c := range cands {
			c.mark = be.markGen
		}
		for _, s := range be.byID {
			if s.mark == be.markGen && s.hasRoom() {
				return s, true
			}
		}
		return nil, true
	case config.LeastConn:
		var best *server
		k := len(cands)
		for i := 0; i < k; i++ {
			s := cands[(be.lcNext+i)%k]
			if !s.hasRoom() {
				continue
			}
			// cur/weight smaller wins, compared without division.
			if best == nil || s.cur*best.curWeight() < best.cur*s.curWeight() {
				best = s
			}
		}
		be.lcNext++
		return best, true
	default:
		// Smooth weighted round robin (the nginx algorithm): every pick
		// adds each weight to its server's counter, takes the largest and
		// subtracts the total from it, which spreads picks evenly.
		var best *server
		total := 0
		for _, s := range cands {
			if !s.hasRoom() {
				continue
			}
			w := s.curWeight()
			s.rrCur += w
			total += w
			if best == nil || s.rrCur > best.rrCur {
				best = s
			}
		}
		if best != nil {
			best.rrCur -= total
		}
		return best, true
	}
}

// assign gives sess a server slot now, or queues it. It returns the server
// (slot taken), or nil with queued=true, or an error (no server, queue
// full). A non-nil want asks for that server only (a retry without
// redispatch); avoid is skipped when possible (redispatch).
func (be *backend) assign(sess *session, want, avoid *server) (srv *server, queued bool, err error) {
	be.mu.Lock()
	defer be.mu.Unlock()
	var any bool
	if want != nil {
		any = want.isUp()
		if any && want.hasRoom() {
			srv = want
		}
	} else {
		srv, any = be.pickLocked(sess.src.Addr(), avoid)
	}
	if srv != nil {
		srv.cur++
		return srv, false, nil
	}
	if !any {
		return nil, false, ErrNoServer
	}
	if len(be.queue) >= be.queueCap {
		return nil, false, ErrQueueFull
	}
	be.queue = append(be.queue, sess)
	be.st.qcur.Add(1)
	return nil, true, nil
}

// unqueue removes sess from the queue. If it was no longer there, a slot
// was already granted to it (its dequeued call pending or dropped) and
// that server is returned, for the caller to release.
func (be *backend) unqueue(sess *session) (granted *server) {
	be.mu.Lock()
	defer be.mu.Unlock()
	for i, q := range be.queue {
		if q == sess {
			be.queue = append(be.queue[:i], be.queue[i+1:]...)
			be.st.qcur.Add(-1)
			return nil
		}
	}
	granted, sess.granted = sess.granted, nil
	return granted
}

// takeGranted clears and returns the slot pump granted to sess.
func (be *backend) takeGranted(sess *session) *server {
	be.mu.Lock()
	defer be.mu.Unlock()
	g := sess.granted
	sess.granted = nil
	return g
}

// release frees srv's slot and hands free slots to queued sessions.
func (be *backend) release(srv *server) {
	be.mu.Lock()
	srv.cur--
	be.mu.Unlock()
	be.pump()
}

// pump hands server slots to queued sessions, oldest first, while slots
// are free. A session that cannot use any free slot (balance source keeps
// its server) does not block the ones behind it. Each handed session
// continues on its own loop.
func (be *backend) pump() {
	for {
		be.mu.Lock()
		var sess *session
		var srv *server
		for i, q := range be.queue {
			if srv, _ = be.pickLocked(q.src.Addr(), nil); srv != nil {
				sess = q
				be.queue = append(be.queue[:i], be.queue[i+1:]...)
				break
			}
		}
		if sess == nil {
			be.mu.Unlock()
			return
		}
		srv.cur++
		be.st.qcur.Add(-1)
		sess.granted = srv
		be.mu.Unlock()
		if err := sess.cli.Execute(sess.dequeued); err != nil {
			// The session is gone: give the slot back unless its end
			// already did, and try the next.
			if g := be.takeGranted(sess); g != nil {
				be.mu.Lock()
				g.cur--
				be.mu.Unlock()
			}
		}
	}
}

// trackSession records an established session on srv when a health
// check may have to close it (backend.tracking).
func (be *backend) trackSession(srv *server, s *session) {
	if !be.tracking {
		return
	}
	be.mu.Lock()
	if srv.sessions == nil {
		srv.sessions = map[*session]struct{}{}
	}
	srv.sessions[s] = struct{}{}
	be.mu.Unlock()
	s.tracked = true
}

func (be *backend) untrackSession(srv *server, s *session) {
	be.mu.Lock()
	delete(srv.sessions, s)
	be.mu.Unlock()
	s.tracked = false
}

// shutdownSessions closes the established sessions of the servers sel
// picks, each on its own loop (on-marked-down shutdown-sessions,
// on-marked-up shutdown-backup-sessions). why is HAProxy's first
// termination letter: D (the server went down), U (an active server came
// up, so backup sessions end).
func (be *backend) shutdownSessions(sel func(*server) bool, why string) {
	be.mu.Lock()
	var victims []*session
	for _, srv := range be.servers {
		if sel(srv) {
			for s := range srv.sessions {
				victims = append(victims, s)
			}
		}
	}
	be.mu.Unlock()
	for _, s := range victims {
		_ = s.cli.Execute(func() { s.kill(why) })
	}
}

// upServers counts the usable active and backup servers (for HAProxy's
// "N active and M backup servers left" log text).
func (be *backend) upServers() (active, backup int) {
	for _, s := range be.servers {
		if s.usable() {
			if s.cfg.Backup {
				backup++
			} else {
				active++
			}
		}
	}
	return
}
