package runtimeapi

import (
	"fmt"
	"io"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// fakeProxy is a Proxy with one frontend "fe", a backend "be" with
// servers s1 (weight 3) and s2 (backup), and a stick table "fe" of type
// ip.
type fakeProxy struct {
	mu     sync.Mutex
	weight map[string]int
	admin  map[string]Admin
	table  *fakeTable
}

func newFake() *fakeProxy {
	return &fakeProxy{
		weight: map[string]int{"s1": 3, "s2": 1},
		admin:  map[string]Admin{},
		table:  &fakeTable{entries: map[netip.Addr]int{netip.MustParseAddr("127.0.0.1"): 1, netip.MustParseAddr("127.0.0.2"): 2}},
	}
}

var fakeStart = time.Unix(1700000000, 0)

func (f *fakeProxy) Info() Info {
	return Info{Name: "netmodels", Version: "2.6-compat", Pid: 42, Start: fakeStart, Now: fakeStart.Add(93784 * time.Second),
		MaxConn: 100, CurrConns: 2, CumConns: 7, Listeners: 1, BytesOut: 5}
}

func (f *fakeProxy) status(name string) string {
	switch f.admin[name] {
	case Maint:
		return "MAINT"
	case Drain:
		return "DRAIN"
	}
	return "no check"
}

func (f *fakeProxy) StatRows() []StatRow {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []StatRow{
		{Type: FrontendRow, Proxy: "fe", Name: "FRONTEND", IID: 2, Scur: 1, Stot: 5, Slim: 100, Status: "OPEN", Ereq: 1, Dcon: 2},
		{Type: ServerRow, Proxy: "be", Name: "s1", IID: 3, SID: 1, Status: f.status("s1"), Weight: f.weight["s1"], UWeight: f.weight["s1"], Act: 1, Addr: "127.0.0.1:80", LastChg: 4},
		{Type: ServerRow, Proxy: "be", Name: "s2", IID: 3, SID: 2, Status: f.status("s2"), Weight: f.weight["s2"], UWeight: f.weight["s2"], Bck: 1, Addr: "127.0.0.1:81", LastChg: 4,
			Check: true, CheckStatus: "L4OK", CheckDesc: "Layer4 check passed", CheckRise: 2, CheckFall: 3, CheckHealth: 4},
		{Type: BackendRow, Proxy: "be", Name: "BACKEND", IID: 3, Status: "UP", Weight: f.weight["s1"], UWeight: f.weight["s1"], Act: 1, Algo: "roundrobin", LastChg: -1},
	}
}

func (f *fakeProxy) check(be, srv string) error {
	if be != "be" {
		return ErrNoBackend
	}
	if _, ok := f.weight[srv]; !ok {
		return ErrNoServer
	}
	return nil
}

func (f *fakeProxy) ServerWeight(be, srv string) (int, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(be, srv); err != nil {
		return 0, 0, err
	}
	initial := map[string]int{"s1": 3, "s2": 1}[srv]
	return f.weight[srv], initial, nil
}

func (f *fakeProxy) SetServerWeight(be, srv string, w int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(be, srv); err != nil {
		return err
	}
	f.weight[srv] = w
	return nil
}

func (f *fakeProxy) SetServerAdmin(be, srv string, a Admin) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(be, srv); err != nil {
		return err
	}
	f.admin[srv] = a
	return nil
}

func (f *fakeProxy) Tables() []Table { return []Table{f.table} }

func (f *fakeProxy) ServersState() []ServerState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []ServerState{
		{BackendID: 3, Backend: "be", ID: 1, Name: "s1", Host: "127.0.0.1", Port: 80, Running: f.admin["s1"] != Maint, Admin: f.admin["s1"],
			UWeight: f.weight["s1"], IWeight: 3, LastChange: 4, Rise: 2},
		{BackendID: 3, Backend: "be", ID: 2, Name: "s2", Host: "localhost", FQDN: "localhost", Port: 81, Running: true, Admin: f.admin["s2"],
			UWeight: f.weight["s2"], IWeight: 1, LastChange: 4, Checked: true, CheckStatus: "L4OK", CheckPassed: true, CheckHealth: 4, Rise: 2, CheckPort: 9000, CheckAddr: "127.0.0.2"},
	}
}

type fakeTable struct {
	mu      sync.Mutex
	entries map[netip.Addr]int
}

func (t *fakeTable) Name() string { return "fe" }

func (t *fakeTable) Head(w io.Writer) error {
	t.mu.Lock()
	n := len(t.entries)
	t.mu.Unlock()
	_, err := fmt.Fprintf(w, "# table: fe, type: ip, size:100, used:%d\n", n)
	return err
}

// selected applies f the way sticktable does for the fake's one data type
// (conn_cnt).
func (t *fakeTable) selected(f TableFilter) ([]netip.Addr, error) {
	var want netip.Addr
	if f.HasKey {
		a, err := netip.ParseAddr(f.Key)
		if err != nil {
			return nil, ErrInvalidKey
		}
		want = a
	}
	for i, d := range f.Data {
		if d.Type != "conn_cnt" {
			return nil, fmt.Errorf("Filter entry #%d: Data type not stored in this table", i+1)
		}
	}
	var keys []netip.Addr
	for k, v := range t.entries {
		if f.HasKey && k != want {
			continue
		}
		ok := true
		for _, d := range f.Data {
			switch d.Op {
			case "gt":
				ok = ok && int64(v) > d.Value
			case "eq":
				ok = ok && int64(v) == d.Value
			}
		}
		if ok {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Less(keys[j]) })
	return keys, nil
}

func (t *fakeTable) Dump(w io.Writer, f TableFilter) error {
	keys, err := t.selected(f)
	if err != nil {
		return err
	}
	if f.HasKey && len(keys) == 0 {
		return nil
	}
	_ = t.Head(w)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		fmt.Fprintf(w, "0x%x: key=%s use=0 exp=0 conn_cnt=%d\n", t.entries[k], k, t.entries[k])
	}
	return nil
}

func (t *fakeTable) Clear(f TableFilter) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys, err := t.selected(f)
	if err != nil {
		return err
	}
	for _, k := range keys {
		delete(t.entries, k)
	}
	return nil
}
