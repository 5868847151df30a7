package suite

import (
	"io"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/netmodels/netmodels/conformance/internal/harness"
)

// The runtime API ("stats socket", HAProxy's management.txt §9.3). The
// cases use only what real haproxy 2.6 does with the same configuration,
// so they run unchanged in its column.

func init() { proxyCases = append(proxyCases, runtimeCases...) }

// haproxyStatHeader is haproxy 2.6.12's "show stat" header (Debian build:
// ssl, h2 and h1 modules), captured from `echo "show stat" | socat`.
const haproxyStatHeader = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,"

// apiCmd sends one request line to a stats socket and reads the answer
// until the proxy closes the connection (non-interactive mode).
func apiCmd(t *harness.T, path, line string) string {
	t.Helper()
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		t.Fatalf("stats socket %s: %v", path, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatalf("stats socket: write %q: %v", line, err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("stats socket: %q: %v after %q", line, err, b)
	}
	return string(b)
}

// statRows parses "show stat": the header line and each row's columns by
// name, keyed "pxname/svname".
func statRows(t *harness.T, out string) (string, map[string]map[string]string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	cols := strings.Split(strings.TrimPrefix(lines[0], "# "), ",")
	rows := map[string]map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) != len(cols) {
			t.Fatalf("show stat row %q has %d fields, the header %d", l, len(f), len(cols))
		}
		m := map[string]string{}
		for i, c := range cols {
			m[c] = f[i]
		}
		rows[m["pxname"]+"/"+m["svname"]] = m
	}
	return lines[0], rows
}

// shares connects n times and counts the tagged servers reached.
func shares(t *harness.T, addr string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		name, c := whichServer(t, addr, "")
		got[name]++
		c.Close()
	}
	return got
}

var runtimeCases = []harness.Case{
	pc("proxy-runtime-api", "spec/proxy.md §12; HAProxy management.txt §9.3 (show stat, disable/enable server, set/get weight, levels)",
		"stats socket: show stat has HAProxy 2.6's exact CSV header and one row per frontend, server and backend; disable server moves traffic off that server and shows MAINT; enable server brings it back; set weight 3 vs 1 gives 3:1 shares; a level user socket answers Permission denied",
		func(t *harness.T, e harness.Engine) {
			dir := t.TempDir()
			admin, user := filepath.Join(dir, "admin.sock"), filepath.Join(dir, "user.sock")
			a, b := newBackend(t, tagged("a")), newBackend(t, tagged("b"))
			cfg := simpleCfg("", "", "    balance roundrobin\n", a.addr(), b.addr())
			cfg = strings.Replace(cfg, "global\n", "global\n    stats socket "+admin+" mode 600 level admin\n    stats socket "+user+" level user\n", 1)
			p := startProxy(t, e, cfg)

			header, rows := statRows(t, apiCmd(t, admin, "show stat"))
			if header != haproxyStatHeader {
				t.Errorf("show stat header differs from HAProxy 2.6's:\n got  %s\n want %s", header, haproxyStatHeader)
			}
			var names []string
			for k := range rows {
				names = append(names, k)
			}
			want := []string{"fe/FRONTEND", "be/s1", "be/s2", "be/BACKEND"}
			if len(rows) != len(want) {
				t.Errorf("show stat rows %v, want %v", names, want)
			}
			for _, k := range want {
				if rows[k] == nil {
					t.Errorf("show stat has no row %s (rows %v)", k, names)
				}
			}
			if t.Failed() {
				return
			}
			if s := rows["be/s1"]["status"]; s != "no check" {
				t.Errorf("be/s1 status %q, want \"no check\"", s)
			}
			if got := shares(t, p.Addr(0), 4); got["a"] != 2 || got["b"] != 2 {
				t.Fatalf("before any change: %v, want a:2 b:2", got)
			}

			if got := apiCmd(t, user, "disable server be/s1"); got != "Permission denied\n\n" {
				t.Errorf("disable server on a level user socket: %q, want \"Permission denied\\n\\n\"", got)
			}
			if got := apiCmd(t, admin, "disable server be/s1"); got != "\n" {
				t.Fatalf("disable server be/s1: %q", got)
			}
			if got := shares(t, p.Addr(0), 6); got["b"] != 6 {
				t.Fatalf("after disable server be/s1: %v, want every connection on b", got)
			}
			_, rows = statRows(t, apiCmd(t, admin, "show stat"))
			if s := rows["be/s1"]["status"]; s != "MAINT" {
				t.Errorf("be/s1 status after disable: %q, want MAINT", s)
			}
			if got := apiCmd(t, admin, "enable server be/s1;set weight be/s1 3;get weight be/s1"); got != "\n\n3 (initial 1)\n\n" {
				t.Fatalf("enable server; set weight; get weight: %q", got)
			}
			// Smooth and HAProxy's round robin both give 3:1 over whole
			// cycles; the first picks after a change may be off by one.
			if got := shares(t, p.Addr(0), 20); got["a"] < 14 || got["a"] > 16 || got["a"]+got["b"] != 20 {
				t.Fatalf("with weights 3 and 1: %v, want about a:15 b:5", got)
			}
			if got := apiCmd(t, admin, "frobnicate"); !strings.HasPrefix(got, "Unknown command") {
				t.Errorf("unknown command answered %q", got)
			}
			info := apiCmd(t, user, "show info")
			for _, k := range []string{"Name: ", "Version: ", "Pid: ", "Uptime_sec: ", "Maxconn: ", "CurrConns: ", "CumConns: "} {
				if !strings.Contains(info, "\n"+k) && !strings.HasPrefix(info, k) {
					t.Errorf("show info has no %q line:\n%s", k, info)
				}
			}
		}),
	drainPromptCase(),
	tableCase(),
}

// promptSession is an interactive ("prompt") runtime API connection.
type promptSession struct {
	t *harness.T
	c net.Conn
}

func openPrompt(t *harness.T, path string) *promptSession {
	t.Helper()
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		t.Fatalf("stats socket %s: %v", path, err)
	}
	t.Cleanup(func() { c.Close() })
	s := &promptSession{t: t, c: c}
	if got := s.ask("prompt"); got != "\n> " {
		t.Fatalf("prompt answered %q, want \"\\n> \"", got)
	}
	return s
}

// ask sends one line and reads up to the prompt after its last command:
// commands separated by ';' each end with a prompt, and HAProxy may write
// the first one before it runs the next (a CI run read "\n> " alone for
// "set weight ...;get weight ..." on haproxy), so stopping at the first
// prompt would cut the answer. No command here prints "\n> " itself.
func (s *promptSession) ask(line string) string {
	s.t.Helper()
	_ = s.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(s.c, line+"\n"); err != nil {
		s.t.Fatalf("stats socket: write %q: %v", line, err)
	}
	prompts := strings.Count(line, ";") + 1
	var b []byte
	buf := make([]byte, 4096)
	for strings.Count(string(b), "\n> ") < prompts || !strings.HasSuffix(string(b), "\n> ") {
		n, err := s.c.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			s.t.Fatalf("stats socket: %q: %v after %q", line, err, b)
		}
	}
	return string(b)
}

// serverOrClosed connects and returns the tagged server's name, or "" when
// the proxy closes the connection without data (no server available).
func serverOrClosed(t *harness.T, addr string) string {
	t.Helper()
	c := dial(t, addr, "")
	defer c.Close()
	name, err := readLine(c, 5*time.Second)
	if err != nil && name != "" {
		t.Fatalf("via %s: %v after %q", addr, err, name)
	}
	return name
}

func drainPromptCase() harness.Case {
	return pc("proxy-runtime-drain-prompt", "spec/proxy.md §12; HAProxy management.txt §9.3 (prompt, set server state, set weight)",
		"in prompt mode: set server state drain takes s1 out of rotation (status DRAIN); with s2 also at weight 0 the backend is DOWN and a client is closed with nothing relayed; ready and weight 100% restore both",
		func(t *harness.T, e harness.Engine) {
			admin := filepath.Join(t.TempDir(), "admin.sock")
			a, b := newBackend(t, tagged("a")), newBackend(t, tagged("b"))
			cfg := simpleCfg("", "", "    balance roundrobin\n", a.addr(), b.addr())
			cfg = strings.Replace(cfg, "global\n", "global\n    stats socket "+admin+" level admin\n", 1)
			p := startProxy(t, e, cfg)
			s := openPrompt(t, admin)
			count := func(n int) map[string]int {
				got := map[string]int{}
				for range n {
					got[serverOrClosed(t, p.Addr(0))]++
				}
				return got
			}
			if got := s.ask("set server be/s1 state drain"); got != "\n> " {
				t.Fatalf("set server state drain: %q", got)
			}
			if got := count(4); got["b"] != 4 {
				t.Fatalf("with s1 draining: %v, want all on b", got)
			}
			_, rows := statRows(t, strings.TrimSuffix(s.ask("show stat"), "> "))
			if st := rows["be/s1"]["status"]; st != "DRAIN" {
				t.Errorf("be/s1 status %q, want DRAIN", st)
			}
			if got := s.ask("set weight be/s2 0"); got != "\n> " {
				t.Fatalf("set weight be/s2 0: %q", got)
			}
			if got := count(2); got[""] != 2 {
				t.Fatalf("with s1 draining and s2 at weight 0: %v, want both clients closed without data", got)
			}
			_, rows = statRows(t, strings.TrimSuffix(s.ask("show stat"), "> "))
			if be := rows["be/BACKEND"]; be["status"] != "DOWN" || be["weight"] != "0" || be["act"] != "0" {
				t.Errorf("backend status/weight/act %q/%q/%q, want DOWN/0/0", be["status"], be["weight"], be["act"])
			}
			if got := s.ask("set server be/s1 state ready"); got != "\n> " {
				t.Fatalf("set server state ready: %q", got)
			}
			if got := count(4); got["a"] != 4 {
				t.Fatalf("s1 ready, s2 at weight 0: %v, want all on a", got)
			}
			if got := s.ask("set weight be/s2 100%;get weight be/s2"); got != "\n> 1 (initial 1)\n\n> " {
				t.Fatalf("set weight 100%%; get weight: %q", got)
			}
			if got := count(4); got["a"] != 2 || got["b"] != 2 {
				t.Fatalf("both restored: %v, want a:2 b:2", got)
			}
			_ = s.c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(s.c, "quit\n")
			if rest, err := io.ReadAll(s.c); err != nil || len(rest) != 0 {
				t.Errorf("quit: %q %v, want the connection closed with nothing more", rest, err)
			}
		})
}

// tableLines returns "show table" output without the entries' addresses
// and expiry times (which differ between processes and runs): "0x...:"
// and "exp=N" become "0x:" and "exp=".
func tableLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if i := strings.Index(l, ": key="); strings.HasPrefix(l, "0x") && i > 0 {
			l = "0x" + l[i:]
		}
		f := strings.Fields(l)
		for j, w := range f {
			if strings.HasPrefix(w, "exp=") {
				f[j] = "exp="
			}
		}
		lines = append(lines, strings.Join(f, " "))
	}
	return lines
}

func tableCase() harness.Case {
	return pc("proxy-runtime-table", "spec/proxy.md §10, §12; HAProxy management.txt §9.3 (show table, clear table)",
		"show table lists a tracked stick table with HAProxy's head and entry format (key, use, conn_cnt, conn_cur); clear table removes an idle key and refuses one a session holds",
		func(t *harness.T, e harness.Engine) {
			admin := filepath.Join(t.TempDir(), "admin.sock")
			be := newBackend(t, echo)
			cfg := simpleCfg("", "    stick-table type ip size 100 expire 30s store conn_cnt,conn_cur\n    tcp-request connection track-sc0 src\n", "", be.addr())
			cfg = strings.Replace(cfg, "global\n", "global\n    stats socket "+admin+" level admin\n", 1)
			p := startProxy(t, e, cfg)
			for range 2 {
				through(t, p.Addr(0), harness.HostIP())
			}
			held := dial(t, p.Addr(0), harness.HostIP2())
			if err := roundTrip(held, []byte("x"), []byte("x"), 5*time.Second); err != nil {
				t.Fatal(err)
			}
			k1, k2 := harness.HostIP(), harness.HostIP2()
			want := []string{
				"# table: fe, type: ip, size:100, used:2",
				"0x: key=" + k1 + " use=0 exp= conn_cnt=2 conn_cur=0",
				"0x: key=" + k2 + " use=1 exp= conn_cnt=1 conn_cur=1",
			}
			var got []string
			// The closed sessions end asynchronously (conn_cur falls then).
			if !waitFor(3*time.Second, func() bool {
				got = tableLines(apiCmd(t, admin, "show table fe"))
				return strings.Join(got, "\n") == strings.Join(want, "\n")
			}) {
				t.Fatalf("show table fe:\n got  %q\n want %q", got, want)
			}
			if got := apiCmd(t, admin, "show table"); got != "# table: fe, type: ip, size:100, used:2\n\n" {
				t.Errorf("show table: %q", got)
			}
			if got := apiCmd(t, admin, "clear table fe key "+k2); got != "Entry currently in use, cannot remove\n\n" {
				t.Errorf("clear table of a held key: %q", got)
			}
			if got := apiCmd(t, admin, "clear table fe key "+k1+";show table"); got != "\n# table: fe, type: ip, size:100, used:1\n\n" {
				t.Errorf("clear table of an idle key: %q", got)
			}
		})
}
