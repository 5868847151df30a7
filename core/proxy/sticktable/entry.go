package sticktable

import "time"

// The data methods below may be called on an entry the caller holds
// (Track/Acquire), from any goroutine; each takes the entry's short lock.
// Data the table does not store is neither counted nor reported.

// startConn counts a new tracked connection (stream_start_counters).
func (e *Entry) startConn(now int64) {
	s := &e.t.cfg.Stores
	e.mu.Lock()
	if s.Has(ConnCur) {
		e.connCur++
	}
	if s.Has(ConnCnt) {
		e.connCnt++
	}
	if s.Has(ConnRate) {
		e.rates[rateSlot[ConnRate]].add(now, s.period[ConnRate], 1)
	}
	e.mu.Unlock()
}

// IncSess counts a new session (sess_cnt, sess_rate): a connection that
// passed the "tcp-request connection" rules.
func (e *Entry) IncSess(now time.Time) {
	s := &e.t.cfg.Stores
	if !s.Has(SessCnt) && !s.Has(SessRate) {
		return
	}
	tk := e.t.tick(now)
	e.mu.Lock()
	if s.Has(SessCnt) {
		e.sessCnt++
	}
	if s.Has(SessRate) {
		e.rates[rateSlot[SessRate]].add(tk, s.period[SessRate], 1)
	}
	e.mu.Unlock()
}

// CountsBytes reports whether the table stores a bytes counter or rate,
// so the relay path can skip entries that do not.
func (e *Entry) CountsBytes() bool {
	s := &e.t.cfg.Stores
	return s.has&(1<<BytesInCnt|1<<BytesInRate|1<<BytesOutCnt|1<<BytesOutRate) != 0
}

// AddBytesIn counts n bytes received from the client (bytes_in_cnt,
// bytes_in_rate).
func (e *Entry) AddBytesIn(n int, now time.Time) { e.addBytes(n, now, BytesInCnt, BytesInRate) }

// AddBytesOut counts n bytes sent to the client (bytes_out_cnt,
// bytes_out_rate).
func (e *Entry) AddBytesOut(n int, now time.Time) { e.addBytes(n, now, BytesOutCnt, BytesOutRate) }

func (e *Entry) addBytes(n int, now time.Time, cnt, rate Data) {
	s := &e.t.cfg.Stores
	hasCnt, hasRate := s.Has(cnt), s.Has(rate)
	if n <= 0 || !hasCnt && !hasRate {
		return
	}
	var tk int64
	if hasRate {
		tk = e.t.tick(now)
	}
	e.mu.Lock()
	if hasCnt {
		if cnt == BytesInCnt {
			e.bytesIn += uint64(n)
		} else {
			e.bytesOut += uint64(n)
		}
	}
	if hasRate {
		e.rates[rateSlot[rate]].add(tk, s.period[rate], uint64(n))
	}
	e.mu.Unlock()
}

// IncGPC0 adds one to gpc0 (and gpc0_rate) and returns gpc0's new value
// (sc-inc-gpc0); ok is false if the table stores neither.
func (e *Entry) IncGPC0() (v uint64, ok bool) {
	s := &e.t.cfg.Stores
	if !s.Has(GPC0) && !s.Has(GPC0Rate) {
		return 0, false
	}
	tk := e.t.tick(e.t.clk.Now())
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.Has(GPC0Rate) {
		e.rates[rateSlot[GPC0Rate]].add(tk, s.period[GPC0Rate], 1)
	}
	if s.Has(GPC0) {
		e.gpc0++
	}
	return uint64(e.gpc0), true
}

// SetServer stores the server a session used ("stick store-request"):
// its id in server_id and its key (name or address) in server_key, for
// those of the two the table stores.
func (e *Entry) SetServer(id int, key string) {
	s := &e.t.cfg.Stores
	e.mu.Lock()
	if s.Has(ServerID) {
		e.serverID = int32(id)
	}
	if s.Has(ServerKey) {
		e.serverKey = key
	}
	e.mu.Unlock()
}

// Get reads d at now; ok is false when the table does not store it.
func (e *Entry) Get(d Data, now time.Time) (uint64, bool) {
	return e.get(d, e.t.tick(now))
}

func (e *Entry) get(d Data, now int64) (uint64, bool) {
	s := &e.t.cfg.Stores
	if !s.Has(d) {
		return 0, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if d.IsRate() {
		return e.rates[rateSlot[d]].read(now, s.period[d]), true
	}
	switch d {
	case ServerID:
		return uint64(uint32(e.serverID)), true
	case GPT0:
		return uint64(e.gpt0), true
	case GPC0:
		return uint64(e.gpc0), true
	case GPC1:
		return uint64(e.gpc1), true
	case ConnCnt:
		return uint64(e.connCnt), true
	case ConnCur:
		return uint64(e.connCur), true
	case SessCnt:
		return uint64(e.sessCnt), true
	case BytesInCnt:
		return e.bytesIn, true
	case BytesOutCnt:
		return e.bytesOut, true
	}
	return 0, true // http_* counters: never counted in tcp mode
}

// ServerID is the stored server id (0: none), for persistence.
func (e *Entry) ServerID() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return int(e.serverID)
}

// ServerKey is the stored server key ("": none).
func (e *Entry) ServerKey() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.serverKey
}

// Value reads d now (the table's clock); ok is false when the table does
// not store it.
func (e *Entry) Value(d Data) (uint64, bool) {
	return e.get(d, e.t.tick(e.t.clk.Now()))
}

// ClearGPC0 sets gpc0 to 0 and returns its previous value (sc_clr_gpc0);
// ok is false if the table does not store gpc0.
func (e *Entry) ClearGPC0() (prev uint64, ok bool) {
	if !e.t.cfg.Stores.Has(GPC0) {
		return 0, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	prev, e.gpc0 = uint64(e.gpc0), 0
	return prev, true
}

// Refs is the number of sessions holding the entry (sc_trackers).
func (e *Entry) Refs() int {
	e.t.mu.Lock()
	defer e.t.mu.Unlock()
	return int(e.ref)
}
