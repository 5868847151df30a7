package sticktable

// freqCtr is HAProxy's frequency counter (freq_ctr.c): events are counted
// in the current period, and the previous period's count is kept. A read
// at time now is an estimate of the events of the last period-long window:
// the previous count weighted by the share of the window that still
// overlaps the previous period, plus the current count.
//
// Ticks are milliseconds on the table's time line (Table.tick), which
// starts far above zero so that a zero counter is "long ago", as a
// zeroed freq_ctr is for HAProxy: its first event starts a period.
// The caller serialises access (the entry's lock).
type freqCtr struct {
	tick       int64 // start of the current period, in ms
	curr, prev uint64
}

// add counts inc events at now (update_freq_ctr_period): within the
// current period they add up; one period later the current count becomes
// the previous one; two periods later both are forgotten and the period
// restarts at now.
func (f *freqCtr) add(now int64, period uint32, inc uint64) {
	p := int64(period)
	if now-f.tick < p {
		f.curr += inc
		return
	}
	f.prev, f.curr = f.curr, inc
	f.tick += p
	if now-f.tick >= p {
		f.prev = 0
		f.tick = now
	}
}

// read is read_freq_ctr_period: the events per period at now, rounded
// down. Rates of 0 or 1 event per period with nothing in the current
// period read as the previous count, not a fraction of it, so that a low
// rate does not flap between 0 and 1 (HAProxy's flapping correction).
func (f *freqCtr) read(now int64, period uint32) uint64 {
	p := int64(period)
	past, curr := f.prev, f.curr
	remain := f.tick + p - now
	if remain < 0 {
		// Past the current period: what was current is now the previous
		// period, or too old to count at all.
		remain += p
		if remain >= 0 {
			past = curr
		} else {
			past = 0
		}
		curr = 0
	}
	if curr == 0 && past <= 1 {
		return past
	}
	return (past*uint64(remain) + curr*uint64(p)) / uint64(p)
}
