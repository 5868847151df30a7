package proxy

import (
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/proxy/runtimeapi"
)

const twoChecked = `
listen l
    bind 127.0.0.1:8000
    balance roundrobin
    server a 127.0.0.1:9001 check inter 1s fall 1 rise 1
    server b 127.0.0.1:9002 check inter 1s fall 1 rise 1
`

// newSessions dials n clients and returns how many new server-side
// connections each address got (health checks are connections too: call
// it between checks).
func (h *harness) newSessions(n int, addrs ...string) []int {
	before := h.counts(addrs...)
	for i := 0; i < n; i++ {
		h.dial("127.0.0.1:8000", &peer{})
	}
	h.settle()
	after := h.counts(addrs...)
	for i := range after {
		after[i] -= before[i]
	}
	return after
}

// Maintenance takes a server out of rotation and stops its health checks;
// ready brings both back. Sessions already on it stay.
func TestRuntimeMaint(t *testing.T) {
	h := newHarness(t, cfgWith(twoChecked), 0)
	ab := []string{"127.0.0.1:9001", "127.0.0.1:9002"}
	for _, a := range ab {
		h.server(a, func() *peer { return &peer{echo: true} })
	}
	h.start()
	api := h.p.RuntimeAPI()
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	if err := api.SetServerAdmin("l", "a", runtimeapi.Maint); err != nil {
		t.Fatal(err)
	}
	if got := h.newSessions(10, ab...); got[0] != 0 || got[1] != 10 {
		t.Fatalf("with a in maint: %v", got)
	}
	before := h.counts(ab...)
	h.advance(3 * time.Second) // three check intervals
	if after := h.counts(ab...); after[0] != before[0] || after[1] != before[1]+3 {
		t.Fatalf("checks during maint: a %d→%d (want none), b %d→%d (want 3)", before[0], after[0], before[1], after[1])
	}
	// The session opened before the change still relays.
	_ = cli.conn.Write([]byte("ping"))
	h.settle()
	if cli.data.String() != "ping" {
		t.Fatalf("existing session after maint: %q", cli.data.String())
	}
	rows := rowsByName(api.StatRows())
	if r := rows["a"]; r.Status != "MAINT" || r.Check {
		t.Errorf("a in maint: %+v", r)
	}
	if err := api.SetServerAdmin("l", "a", runtimeapi.Ready); err != nil {
		t.Fatal(err)
	}
	if got := h.newSessions(10, ab...); got[0] != 5 || got[1] != 5 {
		t.Fatalf("after ready: %v", got)
	}
	before = h.counts(ab...)
	h.advance(time.Second)
	if after := h.counts(ab...); after[0] != before[0]+1 {
		t.Fatalf("checks did not resume on a after ready")
	}
	if !strings.Contains(h.log.String(), "Server l/a is going DOWN for maintenance.") {
		t.Errorf("log: %s", h.log)
	}
}

// Drain: no new sessions but retries and checks go on; weight changes the
// shares from the next pick on.
func TestRuntimeDrainAndWeight(t *testing.T) {
	h := newHarness(t, cfgWith(twoChecked), 0)
	ab := []string{"127.0.0.1:9001", "127.0.0.1:9002"}
	for _, a := range ab {
		h.server(a, func() *peer { return &peer{} })
	}
	h.start()
	api := h.p.RuntimeAPI()
	if err := api.SetServerAdmin("l", "a", runtimeapi.Drain); err != nil {
		t.Fatal(err)
	}
	if got := h.newSessions(8, ab...); got[0] != 0 || got[1] != 8 {
		t.Fatalf("with a draining: %v", got)
	}
	if r := rowsByName(api.StatRows())["a"]; r.Status != "DRAIN" || !r.Check {
		t.Errorf("a draining: %+v", r)
	}
	before := h.counts(ab...)
	h.advance(time.Second)
	if after := h.counts(ab...); after[0] != before[0]+1 {
		t.Fatal("a draining is no longer checked")
	}
	_ = api.SetServerAdmin("l", "a", runtimeapi.Ready)
	if err := api.SetServerWeight("l", "a", 3); err != nil {
		t.Fatal(err)
	}
	if got := h.newSessions(40, ab...); got[0] != 30 || got[1] != 10 {
		t.Fatalf("weights 3:1: %v", got)
	}
	if cur, initial, err := api.ServerWeight("l", "a"); cur != 3 || initial != 1 || err != nil {
		t.Errorf("weight of a = %d (initial %d) %v", cur, initial, err)
	}
	_ = api.SetServerWeight("l", "a", 0)
	if got := h.newSessions(6, ab...); got[0] != 0 || got[1] != 6 {
		t.Fatalf("weight 0: %v", got)
	}
	r := rowsByName(api.StatRows())
	if r["a"].Weight != 0 || r["BACKEND"].Weight != 1 || r["BACKEND"].Act != 1 || r["BACKEND"].Status != "UP" {
		t.Errorf("rows after weight 0: a %+v backend %+v", r["a"], r["BACKEND"])
	}
	if _, _, err := api.ServerWeight("l", "zz"); err != runtimeapi.ErrNoServer {
		t.Errorf("unknown server: %v", err)
	}
	if err := api.SetServerAdmin("nope", "a", runtimeapi.Maint); err != runtimeapi.ErrNoBackend {
		t.Errorf("unknown backend: %v", err)
	}
}

// A server disabled in the configuration starts in maintenance, unchecked;
// "enable server" makes it take traffic and be checked.
func TestRuntimeEnableConfigDisabled(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000
    server a 127.0.0.1:9001 check inter 1s disabled
    server b 127.0.0.1:9002
`), 0)
	ab := []string{"127.0.0.1:9001", "127.0.0.1:9002"}
	for _, a := range ab {
		h.server(a, func() *peer { return &peer{} })
	}
	h.start()
	h.advance(2 * time.Second)
	if got := h.newSessions(4, ab...); got[0] != 0 || got[1] != 4 || len(h.servers[ab[0]]) != 0 {
		t.Fatalf("disabled server: %v, %d connections", got, len(h.servers[ab[0]]))
	}
	_ = h.p.RuntimeAPI().SetServerAdmin("l", "a", runtimeapi.Ready)
	if got := h.newSessions(4, ab...); got[0] != 2 || got[1] != 2 {
		t.Fatalf("after enable: %v", got)
	}
}

func rowsByName(rows []runtimeapi.StatRow) map[string]runtimeapi.StatRow {
	m := map[string]runtimeapi.StatRow{}
	for _, r := range rows {
		m[r.Name] = r
	}
	return m
}

func TestStatRowsOrder(t *testing.T) {
	h := newHarness(t, cfgWith(`
frontend fe
    bind 127.0.0.1:8000
    maxconn 50
    default_backend be
backend be
    balance leastconn
    server s1 127.0.0.1:9001 maxconn 7
    server s2 [::1]:9002 backup
listen li
    bind 127.0.0.1:8001
    server x 127.0.0.1:9003
backend empty
`), 0)
	h.start()
	var got []string
	for _, r := range h.p.RuntimeAPI().StatRows() {
		got = append(got, r.Proxy+"/"+r.Name+"/"+strconv.Itoa(r.IID)+"/"+strconv.Itoa(r.SID)+"/"+r.Status)
	}
	want := "fe/FRONTEND/2/0/OPEN be/s1/3/1/no check be/s2/3/2/no check be/BACKEND/3/0/UP " +
		"li/FRONTEND/4/0/OPEN li/x/4/1/no check li/BACKEND/4/0/UP empty/BACKEND/5/0/UP"
	if strings.Join(got, " ") != want {
		t.Errorf("rows\n got  %s\n want %s", strings.Join(got, " "), want)
	}
	r := rowsByName(h.p.RuntimeAPI().StatRows())
	if r["s1"].Slim != 7 || r["s2"].Addr != "[::1]:9002" || r["s2"].Bck != 1 || r["s1"].Act != 1 || r["x"].Addr != "127.0.0.1:9003" {
		t.Errorf("server rows: %+v %+v", r["s1"], r["s2"])
	}
	for _, row := range h.p.RuntimeAPI().StatRows() {
		if row.Name == "FRONTEND" && row.Proxy == "fe" && row.Slim != 50 {
			t.Errorf("fe slim %d", row.Slim)
		}
		if row.Name == "BACKEND" && row.Proxy == "be" && (row.Algo != "leastconn" || row.Weight != 1 || row.Act != 1 || row.Bck != 1) {
			t.Errorf("be row %+v", row)
		}
	}
}

// The "stats socket" of the configuration is served while the proxy runs
// and closed by a soft-stop; commands take effect on the balancer.
func TestStatsSocketEndToEnd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	h := newHarness(t, "global\n    stats socket "+sock+" level admin\n"+cfgWith(twoChecked), 0)
	ab := []string{"127.0.0.1:9001", "127.0.0.1:9002"}
	for _, a := range ab {
		h.server(a, func() *peer { return &peer{} })
	}
	h.start()
	if a := h.p.StatsAddrs(); len(a) != 1 || a[0].String() != sock {
		t.Fatalf("stats addrs %v", a)
	}
	ask := func(cmd string) string {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(c, cmd+"\n")
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := ask("disable server l/a"); got != "\n" {
		t.Fatalf("disable: %q", got)
	}
	if got := h.newSessions(4, ab...); got[0] != 0 || got[1] != 4 {
		t.Fatalf("after disable over the socket: %v", got)
	}
	out := ask("show stat")
	if !strings.HasPrefix(out, "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,") || !strings.Contains(out, "\nl,a,0,,0,,,0,0,0,,,,0,,0,0,MAINT,1,1,0,") {
		t.Errorf("show stat:\n%s", out)
	}
	if got := ask("enable server l/a;set weight l/a 3;get weight l/a"); got != "\n\n3 (initial 1)\n\n" {
		t.Fatalf("enable/set weight: %q", got)
	}
	if got := h.newSessions(8, ab...); got[0] != 6 || got[1] != 2 {
		t.Fatalf("after set weight 3 over the socket: %v", got)
	}
	info := ask("show info")
	if !strings.Contains(info, "Name: netmodels\nVersion: "+Version+"\n") || !strings.Contains(info, "CumConns: 12\n") {
		t.Errorf("show info:\n%s", info)
	}
	state := ask("show servers state l")
	if !strings.Contains(state, "\n2 l 1 a 127.0.0.1 2 0 3 1 0 1 0 1 6 0 0 0 - 9001 - 0 0 - - 0\n") {
		t.Errorf("show servers state:\n%s", state)
	}
	h.p.SoftStop()
	if _, err := net.Dial("unix", sock); err == nil {
		t.Error("stats socket still accepts after soft-stop")
	}
}

// HAProxy's static algorithms (static-rr, map-based hashing) take a
// weight of 0 or the initial one; the dynamic ones any weight.
func TestRuntimeStaticWeight(t *testing.T) {
	for _, tc := range []struct {
		balance string
		static  bool
	}{
		{"balance source", true},
		{"balance source\n    hash-type map-based", true},
		{"balance static-rr", true},
		{"balance source\n    hash-type consistent", false},
		{"balance roundrobin", false},
		{"balance leastconn", false},
		{"balance first", false},
	} {
		h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000
    `+tc.balance+`
    server a 127.0.0.1:9001 weight 2
`), 0)
		h.start()
		api := h.p.RuntimeAPI()
		err := api.SetServerWeight("l", "a", 3)
		if tc.static && err != runtimeapi.ErrStaticWeight || !tc.static && err != nil {
			t.Errorf("%s: weight 3: %v", tc.balance, err)
		}
		for _, w := range []int{0, 2} {
			if err := api.SetServerWeight("l", "a", w); err != nil {
				t.Errorf("%s: weight %d: %v", tc.balance, w, err)
			}
		}
	}
}

// Consistent hashing is dynamic: a server's share of the keys follows the
// weight set at run time.
func TestRuntimeConsistentHashWeight(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000
    balance source
    hash-type consistent
    server a 127.0.0.1:9001
    server b 127.0.0.1:9002
`), 0)
	h.start()
	api := h.p.RuntimeAPI()
	share := func() float64 {
		be := h.p.backends[0]
		a := 0
		const n = 4000
		for i := 0; i < n; i++ {
			src := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
			be.mu.Lock()
			s, _ := be.pickLocked(src, nil)
			be.mu.Unlock()
			if s.cfg.Name == "a" {
				a++
			}
		}
		return float64(a) / n
	}
	if f := share(); f < 0.35 || f > 0.65 {
		t.Fatalf("equal weights: a has %.2f of the keys", f)
	}
	if err := api.SetServerWeight("l", "a", 9); err != nil {
		t.Fatal(err)
	}
	if f := share(); f < 0.8 {
		t.Fatalf("weights 9:1: a has %.2f of the keys, want about 0.9", f)
	}
}

// Operators change servers from other goroutines while sessions are
// balanced: run with -race, every session still gets a server.
func TestRuntimeConcurrentChanges(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000
    balance leastconn
    server a 127.0.0.1:9001 check inter 100ms
    server b 127.0.0.1:9002 check inter 100ms
    server c 127.0.0.1:9003
`), 0)
	abc := []string{"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"}
	for _, a := range abc {
		h.server(a, func() *peer { return &peer{} })
	}
	h.start()
	api := h.p.RuntimeAPI()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i, name := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				_ = api.SetServerAdmin("l", name, runtimeapi.Admin((n+i)%3))
				_ = api.SetServerWeight("l", name, (n*7)%5)
				_ = api.StatRows()
				_ = api.ServersState()
			}
		}()
	}
	clients := make([]*peer, 0, 200)
	for i := 0; i < 200; i++ {
		clients = append(clients, h.dial("127.0.0.1:8000", &peer{}))
		h.settle()
		if i%20 == 0 {
			h.advance(100 * time.Millisecond)
		}
	}
	close(done)
	wg.Wait()
	h.settle()
	total := 0
	for _, n := range h.counts(abc[2]) {
		total += n
	}
	// Server c is never changed, so no session is ever refused.
	for i, c := range clients {
		if c.closed {
			t.Fatalf("client %d closed: %v", i, c.closeErr)
		}
	}
	if total == 0 {
		t.Error("server c got nothing")
	}
}

// show table / clear table reach the stick tables through the API, in
// HAProxy's order (reverse declaration) and with its answers.
func TestRuntimeTables(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	h := newHarness(t, "global\n    stats socket "+sock+" level admin\n"+cfgWith(`
backend z
    stick-table type integer size 10
listen l
    bind 127.0.0.1:8000
    stick-table type ip size 100 expire 30s store conn_cur,conn_cnt
    tcp-request connection track-sc0 src
    server a 127.0.0.1:9001
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.start()
	ask := func(cmd string) string {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(c, cmd+"\n")
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	if got := ask("show table"); got != "# table: l, type: ip, size:100, used:1\n# table: z, type: integer, size:10, used:0\n\n" {
		t.Errorf("show table: %q", got)
	}
	got := ask("show table l")
	if !strings.HasPrefix(got, "# table: l, type: ip, size:100, used:1\n0x") || !strings.Contains(got, ": key=127.0.0.1 use=1 exp=") || !strings.Contains(got, "conn_cnt=1 conn_cur=1\n") {
		t.Errorf("show table l: %q", got)
	}
	for cmd, want := range map[string]string{
		"show table l key 127.0.0.9":           "\n",
		"show table l key 1.2.3":               "\n",
		"show table z key abc":                 "Invalid key\n\n",
		"show table l data.conn_cur gt 5":      "# table: l, type: ip, size:100, used:1\n\n",
		"show table l data.gpc0 gt 5":          "Filter entry #1: Data type not stored in this table\n\n",
		"show table l data.nosuch gt 5":        "Filter entry #1: Unknown data type\n\n",
		"clear table l key 127.0.0.1":          "Entry currently in use, cannot remove\n\n",
		"clear table l;show table l key 1.2.3": "\n\n",
	} {
		if got := ask(cmd); got != want {
			t.Errorf("%q: %q, want %q", cmd, got, want)
		}
	}
	_ = cli.conn.Close()
	_ = h.only("127.0.0.1:9001").conn.Close()
	h.settle()
	if got := ask("clear table l key 127.0.0.1;show table"); got != "\n# table: l, type: ip, size:100, used:0\n# table: z, type: integer, size:10, used:0\n\n" {
		t.Errorf("after the session ended, clear key: %q", got)
	}
}

// Drain keeps persistent sessions: a client that "stick on src" sent to
// server a still goes there while a drains; maint sends it elsewhere.
func TestRuntimeDrainKeepsPersistence(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000
    balance roundrobin
    stick-table type ip size 100
    stick on src
    server a 127.0.0.1:9001
    server b 127.0.0.1:9002
`), 0)
	ab := []string{"127.0.0.1:9001", "127.0.0.1:9002"}
	for _, a := range ab {
		h.server(a, func() *peer { return &peer{} })
	}
	h.start()
	// The first session (from 127.0.0.1, the memengine's client address)
	// sticks to a.
	if got := h.newSessions(1, ab...); got[0] != 1 {
		t.Fatalf("first session: %v", got)
	}
	api := h.p.RuntimeAPI()
	_ = api.SetServerAdmin("l", "a", runtimeapi.Drain)
	if got := h.newSessions(3, ab...); got[0] != 3 {
		t.Fatalf("persistent sessions while a drains: %v, want all on a", got)
	}
	_ = api.SetServerAdmin("l", "a", runtimeapi.Maint)
	if got := h.newSessions(2, ab...); got[1] != 2 {
		t.Fatalf("persistent sessions while a is in maint: %v, want all on b", got)
	}
}

// HAProxy's transitional states: a checked server on its way down shows
// "UP 2/3", on its way up "DOWN 1/2"; at start and out of maintenance it
// is "UP 1/3", one failure from down.
func TestRuntimeTransitionalStatus(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000
    server a 127.0.0.1:9001 check inter 1s rise 2 fall 3
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.start()
	api := h.p.RuntimeAPI()
	status := func() (string, int) {
		r := rowsByName(api.StatRows())["a"]
		return r.Status, r.CheckHealth
	}
	if st, hl := status(); st != "UP 1/3" || hl != 2 {
		t.Fatalf("at start: %q health %d, want UP 1/3 health 2 (HAProxy: up, but down at the first failure)", st, hl)
	}
	h.advance(time.Second)
	if st, hl := status(); st != "UP" || hl != 4 {
		t.Fatalf("after a good check: %q health %d", st, hl)
	}
	h.killServer("127.0.0.1:9001")
	for i, want := range []string{"UP 2/3", "UP 1/3", "DOWN"} {
		h.advance(time.Second)
		if st, _ := status(); st != want {
			t.Fatalf("after %d failed checks: %q, want %q", i+1, st, want)
		}
	}
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.advance(time.Second)
	if st, hl := status(); st != "DOWN 1/2" || hl != 1 {
		t.Fatalf("after one good check while down: %q health %d", st, hl)
	}
	h.advance(time.Second)
	if st, _ := status(); st != "UP" {
		t.Fatalf("after rise good checks: %q", st)
	}
	_ = api.SetServerAdmin("l", "a", runtimeapi.Maint)
	_ = api.SetServerAdmin("l", "a", runtimeapi.Ready)
	if st, hl := status(); st != "UP 1/3" || hl != 2 {
		t.Fatalf("out of maintenance: %q health %d, want UP 1/3 health 2", st, hl)
	}
	h.killServer("127.0.0.1:9001")
	h.advance(time.Second)
	if st, _ := status(); st != "DOWN" {
		t.Fatalf("one failure after maintenance: %q, want DOWN", st)
	}
}
