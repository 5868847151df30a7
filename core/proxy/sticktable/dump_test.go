package sticktable

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

var ptrRE = regexp.MustCompile(`(?m)^0x[0-9a-f]+:`)

func dump(t *testing.T, tb *Table, f *Filter) string {
	t.Helper()
	var b bytes.Buffer
	if err := tb.Dump(&b, f); err != nil {
		t.Fatal(err)
	}
	return ptrRE.ReplaceAllString(b.String(), "0xP:")
}

// The text is HAProxy 2.6's "show table" (checked against haproxy 2.6.12's
// stats socket with the same table and traffic): header, then entries in
// key order with use, exp and the stored data in HAProxy's order.
func TestDumpFormat(t *testing.T) {
	tb, clk := newTable(t, 102400, 30*time.Second, map[Data]time.Duration{
		ConnCur: 0, ConnRate: 10 * time.Second, GPC0: 0, BytesInRate: time.Second, ServerID: 0,
	})
	held := tb.Track(ipKey(t, tb, "127.0.0.2"))
	for i := 0; i < 3; i++ {
		tb.Untrack(tb.Track(ipKey(t, tb, "127.0.0.1")))
	}
	clk.Advance(6 * time.Millisecond)
	want := "# table: fe, type: ip, size:102400, used:2\n" +
		"0xP: key=127.0.0.1 use=0 exp=29994 server_id=0 gpc0=0 conn_rate(10000)=3 conn_cur=0 bytes_in_rate(1000)=0\n" +
		"0xP: key=127.0.0.2 use=1 exp=29994 server_id=0 gpc0=0 conn_rate(10000)=1 conn_cur=1 bytes_in_rate(1000)=0\n"
	if got := dump(t, tb, nil); got != want {
		t.Fatalf("dump:\n%s\nwant:\n%s", got, want)
	}
	k := ipKey(t, tb, "127.0.0.1")
	if got := dump(t, tb, &Filter{Key: &k}); got != want[:len(want)-len("0xP: key=127.0.0.2 use=1 exp=29994 server_id=0 gpc0=0 conn_rate(10000)=1 conn_cur=1 bytes_in_rate(1000)=0\n")] {
		t.Fatalf("dump key:\n%s", got)
	}
	missing := ipKey(t, tb, "10.0.0.1")
	if got := dump(t, tb, &Filter{Key: &missing}); got != "" {
		t.Fatalf("dump of a missing key: %q", got)
	}
	if got := dump(t, tb, &Filter{Data: []DataFilter{{ConnRate, OpGt, 2}}}); got != want[:len(want)-len("0xP: key=127.0.0.2 use=1 exp=29994 server_id=0 gpc0=0 conn_rate(10000)=1 conn_cur=1 bytes_in_rate(1000)=0\n")] {
		t.Fatalf("dump data filter:\n%s", got)
	}
	if err := tb.Dump(&bytes.Buffer{}, &Filter{Data: []DataFilter{{SessCnt, OpGt, 2}}}); err == nil {
		t.Fatal("filter on a data type not stored accepted")
	}

	// Clear skips held entries; Remove of a held one is ErrInUse.
	if n, err := tb.Clear(nil); err != nil || n != 1 {
		t.Fatalf("clear removed %d, %v", n, err)
	}
	if err := tb.Remove(ipKey(t, tb, "127.0.0.2")); !errors.Is(err, ErrInUse) {
		t.Fatalf("remove held: %v", err)
	}
	tb.Untrack(held)
	if err := tb.Remove(ipKey(t, tb, "127.0.0.2")); err != nil || tb.Len() != 0 {
		t.Fatalf("remove released: %v, len %d", err, tb.Len())
	}
	if got := dump(t, tb, nil); got != "# table: fe, type: ip, size:102400, used:0\n" {
		t.Fatalf("empty dump %q", got)
	}
}

func TestDumpKeyTypes(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		keys []string
		want string
	}{
		{Config{Name: "t", Type: TypeInteger, Size: 10}, []string{"20", "3"},
			"# table: t, type: integer, size:10, used:2\n0xP: key=3 use=0 exp=0\n0xP: key=20 use=0 exp=0\n"},
		{Config{Name: "t", Type: TypeString, KeyLen: 8, Size: 10}, []string{"b c", "abcdefghij"},
			"# table: t, type: string, size:10, used:2\n0xP: key=abcdefgh use=0 exp=0\n0xP: key=b\\ c use=0 exp=0\n"},
		{Config{Name: "t", Type: TypeIPv6, Size: 10}, []string{"::1", "10.0.0.1"},
			"# table: t, type: ipv6, size:10, used:2\n0xP: key=::1 use=0 exp=0\n0xP: key=::ffff:10.0.0.1 use=0 exp=0\n"},
	} {
		tb, err := New(c.cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range c.keys {
			k, err := tb.ParseKey(s)
			if err != nil {
				t.Fatal(err)
			}
			tb.Release(tb.Acquire(k))
		}
		if got := dump(t, tb, nil); got != c.want {
			t.Errorf("%v dump:\n%s\nwant:\n%s", c.cfg.Type, got, c.want)
		}
	}
}

// A persistence table shows the server as HAProxy does once "stick on"
// stored it: server_id=1 server_key=s1 ("-" before any store).
func TestDumpServer(t *testing.T) {
	tb, clk := newTable(t, 10, 30*time.Second, map[Data]time.Duration{ServerID: 0, ServerKey: 0})
	a, b := ipKey(t, tb, "127.0.0.1"), ipKey(t, tb, "127.0.0.2")
	e := tb.Acquire(a)
	e.SetServer(1, "s1")
	tb.Release(e)
	tb.Release(tb.Acquire(b))
	clk.Advance(220 * time.Millisecond)
	want := "# table: fe, type: ip, size:10, used:2\n" +
		"0xP: key=127.0.0.1 use=0 exp=29780 server_id=1 server_key=s1\n" +
		"0xP: key=127.0.0.2 use=0 exp=29780 server_id=0 server_key=-\n"
	if got := dump(t, tb, nil); got != want {
		t.Fatalf("dump:\n%s\nwant:\n%s", got, want)
	}
	if id, key, found := tb.ReadServer(a); id != 1 || key != "s1" || !found {
		t.Fatalf("ReadServer: %d %q %v", id, key, found)
	}
	var fe *FilterError
	if err := tb.Check(&Filter{Data: []DataFilter{{ServerKey, OpEq, 1}}}); !errors.As(err, &fe) || err.Error() != "Filter entry #1: Data type not stored in this table" {
		t.Fatalf("filter on server_key: %v", err)
	}
}

func TestParseFilter(t *testing.T) {
	tb, _ := newTable(t, 10, 0, map[Data]time.Duration{ConnRate: time.Second, GPC0: 0})
	k := ipKey(t, tb, "10.0.0.1")
	for _, c := range []struct {
		words []string
		want  *Filter
		err   string
	}{
		{nil, nil, ""},
		{[]string{"key", "10.0.0.1"}, &Filter{Key: &k}, ""},
		{[]string{"key"}, nil, "Key value expected"},
		{[]string{"key", "zz"}, nil, "Invalid key"},
		{[]string{"data.gpc0", "gt", "3"}, &Filter{Data: []DataFilter{{GPC0, OpGt, 3}}}, ""},
		{[]string{"data.gpc0", "gt", "-3", "data.conn_rate", "le", "9"}, &Filter{Data: []DataFilter{{GPC0, OpGt, -3}, {ConnRate, OpLe, 9}}}, ""},
		{[]string{"data.frob", "gt", "3"}, nil, "Filter entry #1: Unknown data type"},
		{[]string{"data.conn_cur", "gt", "3"}, nil, "Filter entry #1: Data type not stored in this table"},
		{[]string{"data.gpc0", "gt", "3", "data.gpc0", "xx", "1"}, nil, `Filter entry #2: Require and operator among "eq", "ne", "le", "ge", "lt", "gt"`},
		{[]string{"data.gpc0", "gt"}, nil, "Filter entry #1: Require a valid integer value to compare against"},
		{[]string{"data.gpc0", "gt", "1x"}, nil, "Filter entry #1: Require a valid integer value to compare against"},
		{[]string{"data.gpc0", "gt", "1", "junk"}, nil, "Filter entry #2: Unknown data type"},
		{[]string{"data.gpc0", "gt", "1", "data.gpc0", "gt", "1", "data.gpc0", "gt", "1", "data.gpc0", "gt", "1", "x"}, nil, "Detected extra data in filter, 16th word of input, after '1'"},
		{[]string{"frob"}, nil, ErrArgs.Error()},
	} {
		f, err := tb.ParseFilter(c.words)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%q: %v, want %q", c.words, err, c.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(f) != fmt.Sprint(c.want) && !(f != nil && c.want != nil && f.Key != nil && *f.Key == *c.want.Key) {
			t.Errorf("%q: %+v %v, want %+v", c.words, f, err, c.want)
		}
	}
}

// FuzzParseFilter: any words give a filter or an error, never a panic,
// and a filter only names stored data.
func FuzzParseFilter(f *testing.F) {
	f.Add("key 10.0.0.1")
	f.Add("data.gpc0 gt 3 data.conn_rate le -9")
	f.Add("data.server_key eq 1")
	f.Fuzz(func(t *testing.T, s string) {
		tb, _ := newTable(t, 10, 0, map[Data]time.Duration{ConnRate: time.Second, GPC0: 0, ServerKey: 0})
		flt, err := tb.ParseFilter(strings.Fields(s))
		if err != nil || flt == nil {
			return
		}
		if len(flt.Data) > MaxFilters {
			t.Fatalf("%d filters", len(flt.Data))
		}
		if err := tb.Check(flt); err != nil {
			t.Fatalf("parsed filter fails Check: %v", err)
		}
	})
}
