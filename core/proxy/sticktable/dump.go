package sticktable

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Op compares an entry's data with a value in a dump filter
// ("data.conn_rate gt 10").
type Op uint8

// Operators (HAProxy's STD_OP_*).
const (
	OpEq Op = iota
	OpNe
	OpLe
	OpLt
	OpGe
	OpGt
)

var opNames = [...]string{OpEq: "eq", OpNe: "ne", OpLe: "le", OpLt: "lt", OpGe: "ge", OpGt: "gt"}

// ParseOp reads eq, ne, le, lt, ge or gt.
func ParseOp(s string) (Op, bool) {
	for i, n := range opNames {
		if n == s {
			return Op(i), true
		}
	}
	return 0, false
}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

func (o Op) holds(v, ref int64) bool {
	switch o {
	case OpEq:
		return v == ref
	case OpNe:
		return v != ref
	case OpLe:
		return v <= ref
	case OpLt:
		return v < ref
	case OpGe:
		return v >= ref
	case OpGt:
		return v > ref
	}
	return false
}

// DataFilter keeps entries whose Data compares with Value by Op.
type DataFilter struct {
	Data  Data
	Op    Op
	Value int64
}

// Filter selects entries for Dump and Clear; the zero Filter selects all.
type Filter struct {
	// Key, if set, selects that key only.
	Key *Key
	// Data filters must all hold (the table must store each Data).
	Data []DataFilter
}

// FilterError is a data filter on data the table does not store (or
// cannot compare); its text is HAProxy's.
type FilterError struct {
	Index int // 1-based, as HAProxy numbers filters
}

func (e *FilterError) Error() string {
	return fmt.Sprintf("Filter entry #%d: Data type not stored in this table", e.Index)
}

// Check reports a filter on data the table does not store.
func (t *Table) Check(f *Filter) error {
	if f == nil {
		return nil
	}
	for i, df := range f.Data {
		if !t.cfg.Stores.Has(df.Data) || df.Data == ServerKey {
			return &FilterError{Index: i + 1}
		}
	}
	return nil
}

// Head writes the table's "show table" header line:
// "# table: NAME, type: ip, size:N, used:N".
func (t *Table) Head(w io.Writer) error {
	st := t.Stats()
	_, err := fmt.Fprintf(w, "# table: %s, type: %s, size:%d, used:%d\n", t.cfg.Name, t.cfg.Type, st.Size, st.Used)
	return err
}

// dumpChunk is how many entries Dump formats per hold of the table's
// lock, so a dump of a large table never stalls the sessions using it.
const dumpChunk = 256

// Dump writes HAProxy's "show table NAME" text: the header, then one line
// per selected entry in key order,
//
//	0x7f...: key=127.0.0.1 use=0 exp=29994 conn_rate(10000)=1 conn_cur=0
//
// (use: sessions holding it; exp: ms until it expires; then each stored
// data type in HAProxy's order, rates with their period in ms). With a
// key filter that finds nothing, nothing is written (HAProxy's "show table
// NAME key K"). Entries removed while the dump runs are skipped.
func (t *Table) Dump(w io.Writer, f *Filter) error {
	if err := t.Check(f); err != nil {
		return err
	}
	keys := t.keys(f)
	if f != nil && f.Key != nil && len(keys) == 0 {
		return nil
	}
	if err := t.Head(w); err != nil {
		return err
	}
	var buf bytes.Buffer
	for len(keys) > 0 {
		n := min(len(keys), dumpChunk)
		buf.Reset()
		t.formatChunk(&buf, keys[:n], f)
		keys = keys[n:]
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// Clear removes the selected entries that no session holds and returns
// how many it removed (HAProxy's "clear table NAME [data.X op V]").
func (t *Table) Clear(f *Filter) (int, error) {
	if err := t.Check(f); err != nil {
		return 0, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.tick(t.clk.Now())
	t.expireLocked(now)
	var doomed []*Entry
	for _, e := range t.m {
		if e.ref == 0 && t.selects(e, f, now) {
			doomed = append(doomed, e)
		}
	}
	for _, e := range doomed {
		t.deleteLocked(e)
	}
	return len(doomed), nil
}

// keys returns the keys to dump, sorted as HAProxy's key tree orders them
// (byte order of the key).
func (t *Table) keys(f *Filter) []Key {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(t.tick(t.clk.Now()))
	if f != nil && f.Key != nil {
		if _, ok := t.m[*f.Key]; ok {
			return []Key{*f.Key}
		}
		return nil
	}
	keys := make([]Key, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b Key) int {
		if c := bytes.Compare(a.b[:], b.b[:]); c != 0 {
			return c
		}
		return strings.Compare(a.s, b.s)
	})
	return keys
}

func (t *Table) selects(e *Entry, f *Filter, now int64) bool {
	if f == nil {
		return true
	}
	if f.Key != nil && e.key != *f.Key {
		return false
	}
	for _, df := range f.Data {
		v, _ := e.get(df.Data, now)
		if df.Data == ServerID {
			if !df.Op.holds(int64(int32(v)), df.Value) {
				return false
			}
			continue
		}
		if !df.Op.holds(int64(v), df.Value) {
			return false
		}
	}
	return true
}

func (t *Table) formatChunk(buf *bytes.Buffer, keys []Key, f *Filter) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.tick(t.clk.Now())
	var line []byte
	for _, k := range keys {
		e := t.m[k]
		if e == nil || !t.selects(e, f, now) {
			continue
		}
		line = t.appendEntry(line[:0], e, now)
		buf.Write(line)
	}
}

// appendEntry formats one entry line (table_dump_entry_to_buffer).
func (t *Table) appendEntry(b []byte, e *Entry, now int64) []byte {
	b = fmt.Appendf(b, "%p: key=", e)
	b = appendKey(b, t.cfg.Type, e.key)
	exp := int64(0)
	if t.cfg.Expire > 0 {
		exp = max(e.expire-now, 0)
	}
	b = fmt.Appendf(b, " use=%d exp=%d", e.ref, exp)
	s := &t.cfg.Stores
	for d := Data(0); d < numData; d++ {
		if !s.Has(d) {
			continue
		}
		b = append(b, ' ')
		b = append(b, d.String()...)
		if d.IsRate() {
			b = fmt.Appendf(b, "(%d)", s.period[d])
		}
		b = append(b, '=')
		if d == ServerKey {
			e.mu.Lock()
			k := e.serverKey
			e.mu.Unlock()
			if k == "" {
				k = "-"
			}
			b = append(b, k...)
			continue
		}
		v, _ := e.get(d, now)
		if d == ServerID {
			b = strconv.AppendInt(b, int64(int32(v)), 10)
		} else {
			b = strconv.AppendUint(b, v, 10)
		}
	}
	return append(b, '\n')
}
