// Package sticktable is HAProxy's stick tables: per-key records (a client
// address, an integer, a string) of counters, rates and a server id that
// sessions track ("tcp-request connection track-sc0 src") and rules read
// ("sc_conn_rate(0) gt 20"), or that persistence uses ("stick on src").
//
// A table holds at most Config.Size entries. Creating one in a full table
// evicts the least recently used entry that no session references, and
// counts it (Stats.Evicted); when every entry is referenced the new key is
// not stored (Track returns nil). With Config.Expire an entry unused for
// that long is removed; entries referenced by live sessions never expire
// or get evicted. Both use one list of unreferenced entries ordered by
// last use: since every use sets the expiry to now + Expire, that order is
// also the expiry order, so evicting and expiring take the list's tail and
// never scan the table. Expired entries are removed at every table
// operation (bounded by what has expired) and by a timer on the table's
// clock, armed for the oldest entry, so an idle table empties too.
//
// Rates are HAProxy's freq_ctr (freqctr.go). Time is the table's clock
// (core/clock), a fake clock in tests.
//
// Concurrency: a table is used from several engine loops at once. One
// mutex per table guards the index, the list and reference counts; one
// per entry guards its data, so counting bytes on the relay path takes
// only the entry's short lock.
package sticktable

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netmodels/netmodels/core/clock"
)

// Config describes a table ("stick-table" line).
type Config struct {
	// Name is the table's name: the proxy that declares it.
	Name string
	Type Type
	// KeyLen is the length of string keys in bytes (HAProxy's "len";
	// default DefaultStringLen); unused for other types.
	KeyLen int
	// Size is the maximum number of entries (> 0).
	Size int
	// Expire removes entries unused for this long; 0: never (entries
	// then only leave by eviction).
	Expire time.Duration
	// NoPurge: a full table refuses new keys instead of evicting
	// (HAProxy's "nopurge").
	NoPurge bool
	Stores  Stores
}

// Stats are a table's counters.
type Stats struct {
	Used    int   // entries now
	Size    int   // the limit
	Evicted int64 // entries removed to make room for a new key
	Expired int64 // entries removed because they expired
	Refused int64 // new keys not stored: the table was full of referenced entries (or nopurge)
}

// tickEpoch places the table's time line far above zero, so a zero
// freqCtr lies two periods in the past whatever the period.
const tickEpoch = int64(1) << 33

// Table is one stick table.
type Table struct {
	cfg   Config
	clk   clock.Clock
	base  time.Time // tick 0 + tickEpoch
	limit int

	mu sync.Mutex
	m  map[Key]*Entry
	// lru links the unreferenced entries, most recently used at head.
	head, tail *Entry
	free       *Entry // recycled entries (evicted, expired, cleared)
	nfree      int
	timerOn    bool
	stopTimer  func() bool
	stopped    bool

	evicted, expired, refused atomic.Int64
	used                      atomic.Int64
}

// New makes a table on a clock (clock.Real if nil).
func New(cfg Config, clk clock.Clock) (*Table, error) {
	if cfg.Size <= 0 {
		return nil, fmt.Errorf("sticktable %q: size must be positive", cfg.Name)
	}
	if _, ok := ParseType(cfg.Type.String()); !ok {
		return nil, fmt.Errorf("sticktable %q: unknown type %d", cfg.Name, cfg.Type)
	}
	if cfg.Type == TypeString && cfg.KeyLen <= 0 {
		cfg.KeyLen = DefaultStringLen
	}
	if clk == nil {
		clk = clock.Real
	}
	t := &Table{cfg: cfg, clk: clk, limit: cfg.Size, m: make(map[Key]*Entry, min(cfg.Size, 1024))}
	t.base = clk.Now()
	return t, nil
}

// Config is the table's configuration.
func (t *Table) Config() *Config { return &t.cfg }

// Name is the table's name.
func (t *Table) Name() string { return t.cfg.Name }

// Stats returns the table's counters.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	t.expireLocked(t.tick(t.clk.Now()))
	t.mu.Unlock()
	return Stats{Used: int(t.used.Load()), Size: t.cfg.Size, Evicted: t.evicted.Load(), Expired: t.expired.Load(), Refused: t.refused.Load()}
}

// Len is the number of entries (expired ones removed first).
func (t *Table) Len() int { return t.Stats().Used }

// tick converts a time to the table's millisecond time line.
func (t *Table) tick(now time.Time) int64 {
	return tickEpoch + now.Sub(t.base).Milliseconds()
}

// KeyAddr is the key of address a in this table (see KeyAddr).
func (t *Table) KeyAddr(a netip.Addr) (Key, bool) { return KeyAddr(t.cfg.Type, t.cfg.KeyLen, a) }

// ParseKey reads a key's text form for this table (see ParseKey).
func (t *Table) ParseKey(text string) (Key, error) { return ParseKey(t.cfg.Type, t.cfg.KeyLen, text) }

// Entry is one key's record. Sessions hold it between Track (or Acquire)
// and Untrack (or Release); while held it is neither evicted nor expired,
// and its methods may be called. Without a hold, read it through the
// table (Read, Dump): an unheld entry may be removed and reused at once.
type Entry struct {
	t   *Table
	key Key

	// Guarded by t.mu.
	ref        int32
	expire     int64 // tick at which it expires (when unreferenced)
	prev, next *Entry
	listed     bool

	mu        sync.Mutex
	serverID  int32
	gpt0      uint32
	gpc0      uint32
	gpc1      uint32
	connCnt   uint32
	connCur   uint32
	sessCnt   uint32
	bytesIn   uint64
	bytesOut  uint64
	serverKey string
	rates     [numRates]freqCtr
}

// rateSlot maps a rate Data to its slot in Entry.rates.
var rateSlot = [numData]int8{
	GPC0Rate: 0, ConnRate: 1, SessRate: 2, HTTPReqRate: 3, HTTPErrRate: 4,
	BytesInRate: 5, BytesOutRate: 6, GPC1Rate: 7, HTTPFailRate: 8,
}

const numRates = 9

// Key is the entry's key.
func (e *Entry) Key() Key { return e.key }

// Track is what "track-scN KEY" does for a new session: find or create
// key's entry, hold it, refresh its expiry and count the connection
// (conn_cur, conn_cnt, conn_rate: HAProxy's stream_start_counters). nil:
// the table is full of held entries (or nopurge) and the key is not
// tracked; Stats.Refused counts it.
func (t *Table) Track(k Key) *Entry {
	e, now := t.acquire(k)
	if e != nil {
		e.startConn(now)
	}
	return e
}

// Untrack ends a tracked session: conn_cur is decremented and the entry
// released (HAProxy's session_store_counters).
func (t *Table) Untrack(e *Entry) {
	e.mu.Lock()
	if e.connCur > 0 {
		e.connCur--
	}
	e.mu.Unlock()
	t.Release(e)
}

// Acquire finds or creates key's entry and holds it, refreshing its
// expiry; nil as for Track. Release it when done.
func (t *Table) Acquire(k Key) *Entry {
	e, _ := t.acquire(k)
	return e
}

func (t *Table) acquire(k Key) (*Entry, int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.tick(t.clk.Now())
	t.expireUpTo(now, expireBatch)
	e := t.m[k]
	if e != nil && e.ref == 0 && t.cfg.Expire > 0 && e.expire <= now {
		// Expired, not yet removed (beyond this operation's batch): the
		// key starts afresh.
		t.deleteLocked(e)
		t.expired.Add(1)
		e = nil
	}
	if e == nil {
		if t.used.Load() >= int64(t.limit) && !t.makeRoomLocked() {
			t.refused.Add(1)
			return nil, now
		}
		e = t.newEntryLocked(k)
	}
	if e.listed {
		t.unlinkLocked(e)
	}
	e.ref++
	if t.cfg.Expire > 0 {
		e.expire = now + t.cfg.Expire.Milliseconds()
	}
	return e, now
}

// Release gives back a hold taken by Acquire or Track. The entry's
// expiry restarts (HAProxy's stktable_touch_local), and the last release
// makes it evictable again.
func (t *Table) Release(e *Entry) {
	if e == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.tick(t.clk.Now())
	if e.ref <= 0 {
		panic("sticktable: Release of an entry not held")
	}
	e.ref--
	if t.cfg.Expire > 0 {
		e.expire = now + t.cfg.Expire.Milliseconds()
	}
	if e.ref == 0 {
		t.pushHeadLocked(e)
		t.armLocked(now)
	}
	t.expireUpTo(now, expireBatch)
}

// Read returns key's value of d without holding or touching the entry
// (HAProxy's src_* fetches: a lookup, no creation). found is false when
// the key has no entry; ok is false when the table does not store d.
func (t *Table) Read(k Key, d Data) (v uint64, found, ok bool) {
	if !t.cfg.Stores.Has(d) {
		return 0, false, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.tick(t.clk.Now())
	t.expireUpTo(now, expireBatch)
	e := t.m[k]
	if e == nil || e.ref == 0 && e.expire <= now && t.cfg.Expire > 0 {
		return 0, false, true // absent, or expired and not yet removed
	}
	v, _ = e.get(d, now)
	return v, true, true
}

// ErrInUse is Remove's answer for an entry a session holds (HAProxy's
// "Entry currently in use, cannot remove").
var ErrInUse = errors.New("entry currently in use, cannot remove")

// ReadServer returns the server stored under key (server_id and
// server_key) without holding or touching the entry; found is false when
// the key has no entry.
func (t *Table) ReadServer(k Key) (id int, key string, found bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.tick(t.clk.Now())
	t.expireUpTo(now, expireBatch)
	e := t.m[k]
	if e == nil || e.ref == 0 && e.expire <= now && t.cfg.Expire > 0 {
		return 0, "", false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return int(e.serverID), e.serverKey, true
}

// Remove deletes key's entry; absent is no error, a held entry is
// ErrInUse.
func (t *Table) Remove(k Key) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[k]
	if e == nil {
		return nil
	}
	if e.ref > 0 {
		return ErrInUse
	}
	t.deleteLocked(e)
	return nil
}

// newEntryLocked creates and indexes k's entry, unreferenced and unlisted.
func (t *Table) newEntryLocked(k Key) *Entry {
	e := t.free
	if e != nil {
		t.free, e.next = e.next, nil
		t.nfree--
		*e = Entry{}
	} else {
		e = &Entry{}
	}
	e.t, e.key = t, k
	t.m[k] = e
	t.used.Add(1)
	return e
}

// deleteLocked removes an unreferenced entry and keeps it for reuse (the
// free list never outgrows the table's size).
func (t *Table) deleteLocked(e *Entry) {
	if e.listed {
		t.unlinkLocked(e)
	}
	delete(t.m, e.key)
	t.used.Add(-1)
	e.key = Key{}
	if t.nfree < t.limit/4+1 {
		e.next = t.free
		t.free = e
		t.nfree++
	}
}

// makeRoomLocked evicts the least recently used unreferenced entry, or
// reports that there is none (every entry is held) or that the table
// does not purge.
func (t *Table) makeRoomLocked() bool {
	if t.cfg.NoPurge || t.tail == nil {
		return false
	}
	t.deleteLocked(t.tail)
	t.evicted.Add(1)
	return true
}

// expireBatch bounds the expired entries one session's table operation
// removes, so that many entries expiring at once cost no session a long
// hold of the lock; the table's timer removes the rest.
const expireBatch = 32

// expireLocked removes the unreferenced entries whose expiry has passed:
// they are at the list's tail, so the work is what has expired, never a
// scan of the table.
func (t *Table) expireLocked(now int64) { t.expireUpTo(now, -1) }

// expireUpTo is expireLocked removing at most limit entries (< 0: all);
// it reports whether expired entries remain.
func (t *Table) expireUpTo(now int64, limit int) bool {
	if t.cfg.Expire <= 0 {
		return false
	}
	for e := t.tail; e != nil && e.expire <= now; e = t.tail {
		if limit == 0 {
			return true
		}
		limit--
		t.deleteLocked(e)
		t.expired.Add(1)
	}
	return false
}

// armLocked arms the table's timer for its oldest unreferenced entry,
// unless one is pending: the timer removes what expired and re-arms
// itself, so an idle table empties on time.
func (t *Table) armLocked(now int64) {
	if t.cfg.Expire <= 0 || t.timerOn || t.tail == nil || t.stopped {
		return
	}
	t.timerOn = true
	d := time.Duration(max(t.tail.expire-now, 0)) * time.Millisecond
	t.stopTimer = t.clk.AfterFunc(d, t.onTimer)
}

func (t *Table) onTimer() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.timerOn = false
	now := t.tick(t.clk.Now())
	t.expireLocked(now)
	t.armLocked(now)
}

// Stop cancels the expiry timer (the table stays usable; expiry then
// happens only during operations).
func (t *Table) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	if t.timerOn && t.stopTimer != nil {
		t.stopTimer()
		t.timerOn = false
	}
}

func (t *Table) pushHeadLocked(e *Entry) {
	e.prev, e.next = nil, t.head
	if t.head != nil {
		t.head.prev = e
	} else {
		t.tail = e
	}
	t.head = e
	e.listed = true
}

func (t *Table) unlinkLocked(e *Entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		t.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		t.tail = e.prev
	}
	e.prev, e.next, e.listed = nil, nil, false
}

// Refs is the number of holds on key's entry (0 if absent): src_trackers.
func (t *Table) Refs(k Key) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.m[k]; e != nil {
		return int(e.ref)
	}
	return 0
}
