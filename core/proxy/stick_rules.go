package proxy

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/proxy/config"
	"github.com/netmodels/netmodels/core/proxy/sticktable"
)

// verdict is the outcome of a rule set.
type verdict uint8

const (
	vAccept     verdict = iota
	vReject             // close the client (counted as denied)
	vSilentDrop         // close the client without telling it (RST if the engine can)
	vWait               // content rules: a key or condition needs more data
)

// runRule applies one matching tcp-request rule's action. Non-final
// actions (track-scN, sc-inc-gpc0) return done=false and the rules go on;
// final ones return the verdict. ph is the rule set; final: no more data
// will come for this evaluation.
func (s *session) runRule(r *config.TCPRule, ph config.Phase, final bool) (v verdict, done bool) {
	switch r.Action {
	case config.Accept:
		return vAccept, true
	case config.Reject:
		return vReject, true
	case config.SilentDrop:
		return vSilentDrop, true
	case config.TrackSC:
		if s.sc[r.SC].e != nil {
			return vAccept, false // a counter tracks once (HAProxy)
		}
		t := s.p.table(r.Table)
		k, ok, wait := s.sampleKey(t, r.TrackKey, ph, final)
		if wait {
			return vWait, true
		}
		if ok {
			s.track(r.SC, t, k)
		}
		return vAccept, false
	case config.IncGPC0:
		if e := s.sc[r.SC].e; e != nil {
			e.IncGPC0()
		}
		return vAccept, false
	}
	return vAccept, true
}

// sampleKey fetches x and converts the sample to t's key type, as
// HAProxy's smp_to_stkey does (ip↔int↔string casts). wait: the sample
// may still change and the data is not final (content rules wait).
func (s *session) sampleKey(t *sticktable.Table, x *config.SampleExpr, ph config.Phase, final bool) (k sticktable.Key, ok, wait bool) {
	var smp config.Sample
	if !x.Eval(s.evalEnv(ph, final), &smp) {
		return k, false, smp.MayChange && !final
	}
	if smp.MayChange && !final {
		return k, false, true
	}
	cfg := t.Config()
	switch smp.Type {
	case config.TypeIP:
		if cfg.Type == sticktable.TypeInteger {
			// HAProxy's ip-to-int cast: an IPv4 address as a number.
			a := smp.IP.Unmap()
			if !a.Is4() {
				return k, false, false
			}
			return sticktable.KeyInt(int64(binary.BigEndian.Uint32(a.AsSlice()))), true, false
		}
		k, ok = t.KeyAddr(smp.IP)
		return k, ok, false
	case config.TypeInt, config.TypeBool:
		switch cfg.Type {
		case sticktable.TypeInteger:
			return sticktable.KeyInt(smp.Int), true, false
		case sticktable.TypeIP:
			v := uint32(smp.Int)
			k, ok = t.KeyAddr(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}))
			return k, ok, false
		case sticktable.TypeString:
			return sticktable.KeyString(cfg.KeyLen, strconv.FormatInt(smp.Int, 10)), true, false
		}
	case config.TypeStr, config.TypeBin:
		switch cfg.Type {
		case sticktable.TypeString:
			return sticktable.KeyString(cfg.KeyLen, string(smp.Bytes)), true, false
		default:
			k, err := t.ParseKey(string(smp.Bytes))
			return k, err == nil, false
		}
	}
	return k, false, false
}

// connRules runs the frontend's "tcp-request connection" rules on the
// socket's addresses: the first matching final action decides; none:
// accept.
func (s *session) connRules() verdict {
	rules := s.fe.cfg.TCPRules
	for i := range rules {
		r := &rules[i]
		if !s.holds(r.Cond, config.PhaseConnection) {
			continue
		}
		if v, done := s.runRule(r, config.PhaseConnection, true); done {
			return v
		}
	}
	return vAccept
}

// serverByName finds the server called name, nil if none ("" is none).
func (be *backend) serverByName(name string) *server {
	if name == "" {
		return nil
	}
	for _, s := range be.servers {
		if s.cfg.Name == name {
			return s
		}
	}
	return nil
}

// serverByID finds the server with the persistence id id: its "id", or
// its position from 1 as HAProxy numbers servers without one.
func (be *backend) serverByID(id int) *server {
	for _, s := range be.servers {
		if s.id == id {
			return s
		}
	}
	return nil
}

// stickMatch runs the backend's "stick on|match" rules (HAProxy's
// process_sticking_rules): the first rule whose condition holds and whose
// key has an entry naming a server that is not down sends the session to
// that server; an entry naming a down server is ignored and the next rules
// (or the balancing) decide.
func (s *session) stickMatch() *server {
	if len(s.be.cfg.StickRules) == 0 {
		return nil
	}
	rules := s.be.cfg.StickRules
	for i := range rules {
		r := &rules[i]
		if !r.Kind.Matches() || !s.holds(r.Cond, config.PhaseContent) {
			continue
		}
		t := s.p.table(r.Table)
		k, ok, _ := s.sampleKey(t, r.Key, config.PhaseContent, true)
		if !ok {
			continue
		}
		id, key, found := t.ReadServer(k)
		if !found {
			continue
		}
		// server_key (the name) first, then server_id, as HAProxy.
		srv := s.be.serverByName(key)
		if srv == nil {
			srv = s.be.serverByID(id)
		}
		// A draining or weight-0 server still takes its persistent
		// sessions; a down or maintenance one does not (HAProxy: the
		// server must not be stopped).
		if srv != nil && srv.isUp() {
			return srv
		}
	}
	return nil
}

// stickStore runs the "stick on|store-request|store-response" rules once
// the server connection is up: each holding rule stores the server's id
// under its key (HAProxy stores every matching store rule's key).
func (s *session) stickStore() {
	rules := s.be.cfg.StickRules
	for i := range rules {
		r := &rules[i]
		if !r.Kind.Stores() || !s.holds(r.Cond, config.PhaseContent) {
			continue
		}
		t := s.p.table(r.Table)
		k, ok, _ := s.sampleKey(t, r.Key, config.PhaseContent, true)
		if !ok {
			continue
		}
		if e := t.Acquire(k); e != nil {
			e.SetServer(s.srv.id, s.srvKey(r.Table))
			t.Release(e)
		}
	}
}

// srvKey is what server_key stores for the session's server: its name,
// or its address with "srvkey addr".
func (s *session) srvKey(tc *config.StickTable) string {
	if tc.SrvKeyAddr {
		return s.serverAddr(s.srv)
	}
	return s.srv.cfg.Name
}

// silentDrop closes the client without telling it: a reset where the
// engine can (engine.Aborter, SO_LINGER 0), else a plain close.
func (s *session) silentDrop() {
	if a, ok := s.cli.(engine.Aborter); ok {
		_ = a.Abort()
	}
}
