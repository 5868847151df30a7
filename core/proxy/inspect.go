package proxy

import (
	"time"

	"github.com/netmodels/netmodels/core/proxy/config"
)

// Content inspection: "tcp-request content" rules with "tcp-request
// inspect-delay" (HAProxy's tcp_inspect_request). The rules run in order
// on the request bytes buffered so far, again on each arrival. A rule
// whose condition cannot tell yet (a fetch needs more bytes: config.Miss)
// makes the session wait, until the data is there or the data becomes
// final: inspect-delay expired, buffer full (tune.bufsize), or client EOF;
// then the rules run once more on what is there. The first rule whose
// condition holds decides (accept: stop, reject: close); none: accept. The
// client timeout still applies while waiting.

// startInspect enters the content phase for the frontend's rules (be
// false) or the chosen backend's.
func (s *session) startInspect(be bool) {
	s.phase = phContent
	s.inspectBE = be
	s.inspectYield, s.inspectRan = -1, 0
	s.inspectStart = s.p.clock.Now()
	s.inspect()
	if s.phase == phContent {
		s.armTimer()
	}
}

func (s *session) contentRules() ([]config.TCPRule, time.Duration) {
	if s.inspectBE {
		return s.be.cfg.ContentRules, s.be.cfg.InspectDelay
	}
	return s.fe.cfg.ContentRules, s.fe.cfg.InspectDelay
}

// inspectDelay is the current rule set's delay (0: none).
func (s *session) inspectDelay() time.Duration {
	_, d := s.contentRules()
	return d
}

// inspect runs the content rules once; it waits (returns in phContent),
// rejects (ends the session) or moves on to the backend.
func (s *session) inspect() {
	if s.phase != phContent {
		return
	}
	rules, delay := s.contentRules()
	_, final := s.Req()
	if delay <= 0 || !s.p.clock.Now().Before(s.inspectStart.Add(delay)) {
		final = true
	}
	// As HAProxy's tcp_inspect_request, every pass evaluates the rules
	// from the first: a condition that passed on partial data may not on
	// more. Only a rule whose action waited for its key (a track-scN on a
	// sample still changing: HAProxy's yield) resumes at that action. A
	// non-final action runs once per session (inspectRan; HAProxy would
	// run sc-inc-gpc0 again on each pass, track-scN tracks once anyway).
	start, resume := 0, s.inspectYield >= 0
	if resume {
		start = s.inspectYield
		s.inspectYield = -1
	}
rules:
	for i := start; i < len(rules); i++ {
		r := &rules[i]
		if !resume || i != start {
			switch s.eval(r.Cond, config.PhaseContent, final) {
			case config.Miss:
				return // wait for data, the delay or EOF
			case config.Fail:
				continue
			}
		}
		once := i < 64 && s.inspectRan&(1<<i) != 0
		if once {
			continue // its non-final action already ran
		}
		v, done := s.runRule(r, config.PhaseContent, final)
		if !done {
			if i < 64 {
				s.inspectRan |= 1 << i
			}
			continue
		}
		switch v {
		case vWait:
			s.inspectYield = i
			return // a track key needs more data
		case vReject, vSilentDrop:
			s.fe.st.dreq.Add(1)
			if s.be != nil {
				s.be.st.dreq.Add(1)
			}
			if v == vSilentDrop {
				s.silentDrop()
			}
			s.end("PR")
			return
		}
		break rules // accept
	}
	if s.inspectBE {
		s.phase = phConnect // leaves phContent before assignServer sets its own
		s.assignServer(s.stickMatch(), nil)
		return
	}
	s.startBackend()
}
