package proxy

import (
	"errors"
	"fmt"

	"github.com/netmodels/netmodels/core/proxy/proxyproto"
)

// readHeader waits for a complete, valid PROXY header on an accept-proxy
// bind (v1 or v2, possibly arriving in pieces). Anything else closes the
// client before a backend is chosen, so no server is ever contacted.
func (s *session) readHeader(in []byte) int {
	h, n, err := s.dec.Decode(in)
	if errors.Is(err, proxyproto.ErrNeedMore) {
		if len(in) >= s.p.bufsize {
			// A header that cannot fit in one buffer is refused, as
			// HAProxy does; the decoder's MaxV2Length catches v2 earlier.
			s.rejectHeader(fmt.Errorf("proxy: PROXY header larger than tune.bufsize (%d bytes)", s.p.bufsize))
			return len(in)
		}
		// Remember what arrived, for the reason logged if the client
		// stops here (HAProxy tells "closed" from "truncated").
		s.hdrFirst, s.hdrSeen = in[0], len(in)
		return 0
	}
	if err != nil {
		s.rejectHeader(err)
		return len(in)
	}
	if src, dst, ok := h.Addresses(); ok {
		s.src = unmapAP(src)
		s.dst, s.dstKnown = unmapAP(dst), true
	}
	s.afterHeader()
	switch s.phase {
	case phTLS:
		// The rest is the TLS handshake's: the engine offers it again at
		// once, to the TLS layer now in place.
		return n
	case phContent:
		// The bytes after the header are request data for the rules.
		m := s.buffer(in[n:])
		s.inspect()
		return n + m
	case phQueue, phConnect:
		return n + s.buffer(in[n:])
	}
	return len(in)
}

// headerEOF is the error for a client that ended (or timed out) before a
// complete header.
func (s *session) headerEOF(timedOut bool) error {
	if s.hdrSeen == 0 {
		return proxyproto.EOFError(nil, timedOut)
	}
	b := make([]byte, s.hdrSeen) // only its length and first byte are read
	b[0] = s.hdrFirst
	return proxyproto.EOFError(b, timedOut)
}

// rejectHeader logs the reason as HAProxy does and closes the client.
func (s *session) rejectHeader(err error) {
	s.fe.st.ereq.Add(1)
	reason := err.Error()
	var pe *proxyproto.Error
	if errors.As(err, &pe) {
		reason = pe.Kind.HAProxyReason()
	}
	if s.fe.cfg.Log || s.p.cfg.Global.Log {
		s.p.logf("%s [%s] %s: %s", s.src, s.start.Format(logTimeFormat), s.fe.cfg.Name, reason)
	}
	s.end("PR")
}
