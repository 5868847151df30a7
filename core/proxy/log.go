package proxy

import (
	"net/netip"
	"time"
)

// logTimeFormat is HAProxy's accept date format.
const logTimeFormat = "02/Jan/2006:15:04:05.000"

// logSession writes HAProxy's tcplog line for a finished session:
//
//	%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq
//
// when the frontend has "option tcplog" and logging is on.
func (s *session) logSession() {
	if !s.fe.cfg.TCPLog || !(s.fe.cfg.Log || s.p.cfg.Global.Log) {
		return
	}
	now := s.p.clock.Now()
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	tw, tc := int64(-1), int64(-1)
	if !s.queued.IsZero() {
		tw = ms(s.p.clock.Now().Sub(s.queued))
		if !s.connected.IsZero() {
			tw = 0
		}
	} else if s.be != nil {
		tw = 0
	}
	if !s.connected.IsZero() {
		tc = ms(s.connected.Sub(s.start))
	}
	// Before a backend is chosen (a content reject, no backend) HAProxy's
	// stream has the frontend as its backend: "fe fe/<NOSRV>".
	bname, sname := s.fe.cfg.Name, "<NOSRV>"
	if s.be != nil {
		bname = s.be.cfg.Name
	}
	if s.srv != nil {
		sname = s.srv.cfg.Name
	}
	retries := max(s.attempts-1, 0)
	s.p.logf("%s [%s] %s %s/%s %d/%d/%d %d %s %d/%d/%d/%d/%d 0/0",
		s.src, s.start.Format(logTimeFormat), s.fe.cfg.Name, bname, sname,
		tw, tc, ms(now.Sub(s.start)), s.bytesOut, s.term,
		s.p.live.Load(), s.fe.st.scur.Load(), s.beScur(), s.srvScur(), retries)
}

func (s *session) beScur() int64 {
	if s.be == nil {
		return 0
	}
	return s.be.st.scur.Load()
}

func (s *session) srvScur() int64 {
	if s.srv == nil {
		return 0
	}
	return s.srv.st.scur.Load()
}

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
