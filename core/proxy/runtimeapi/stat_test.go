package runtimeapi

import (
	"strings"
	"testing"

	"github.com/netmodels/netmodels/core/proxy/config"
)

// parseCSV maps each row's svname to its columns by header name.
func parseCSV(t *testing.T, out string) (header string, rows map[string]map[string]string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n\n"), "\n")
	header = lines[0]
	cols := strings.Split(strings.TrimPrefix(header, "# "), ",")
	rows = map[string]map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) != len(cols) {
			t.Fatalf("row %q has %d fields, header %d", l, len(f), len(cols))
		}
		m := map[string]string{}
		for i, c := range cols {
			m[c] = f[i]
		}
		rows[m["svname"]] = m
	}
	return header, rows
}

func TestShowStatCSV(t *testing.T) {
	if n := len(statColumns); n != 128 || statColumns[0] != "pxname" || statColumns[n-1] != "h1_spliced_bytes_out" {
		t.Fatalf("%d columns, first %q last %q", n, statColumns[0], statColumns[n-1])
	}
	out := answer(newFake(), config.LevelAdmin, "show stat")
	header, rows := parseCSV(t, out)
	if header != statHeader {
		t.Fatalf("header %q", header)
	}
	for name, want := range map[string]map[string]string{
		// What HAProxy fills for a tcp frontend; what we do not count
		// (smax, rate, ...) stays empty.
		"FRONTEND": {"pxname": "fe", "qcur": "", "scur": "1", "smax": "", "slim": "100", "stot": "5", "ereq": "1", "dcon": "2", "status": "OPEN", "pid": "1", "iid": "2", "sid": "0", "type": "0", "mode": "tcp", "-": "-", "weight": "", "econ": ""},
		"s1":       {"pxname": "be", "status": "no check", "weight": "3", "uweight": "3", "act": "1", "bck": "0", "sid": "1", "iid": "3", "type": "2", "addr": "127.0.0.1:80", "check_status": "", "chkfail": "", "lastchg": "4", "slim": ""},
		"s2":       {"check_status": "L4OK", "check_desc": "Layer4 check passed", "check_rise": "2", "check_fall": "3", "check_health": "4", "chkfail": "0", "act": "0", "bck": "1"},
		"BACKEND":  {"status": "UP", "weight": "3", "act": "1", "algo": "roundrobin", "type": "1", "sid": "0", "lastchg": "", "addr": ""},
	} {
		for col, v := range want {
			if got := rows[name][col]; got != v {
				t.Errorf("%s %s = %q, want %q", name, col, got, v)
			}
		}
	}
	// Addresses and the algorithm need level operator (HAProxy's STAT_SHLGNDS).
	_, urows := parseCSV(t, answer(newFake(), config.LevelUser, "show stat"))
	if urows["s1"]["addr"] != "" || urows["BACKEND"]["algo"] != "" {
		t.Errorf("user level sees addr %q algo %q", urows["s1"]["addr"], urows["BACKEND"]["algo"])
	}
}

func TestShowStatFilters(t *testing.T) {
	names := func(line string) string {
		_, rows := parseCSV(t, answer(newFake(), config.LevelAdmin, line))
		var out []string
		for _, n := range []string{"FRONTEND", "s1", "s2", "BACKEND"} {
			if _, ok := rows[n]; ok {
				out = append(out, n)
			}
		}
		return strings.Join(out, " ")
	}
	for line, want := range map[string]string{
		"show stat":             "FRONTEND s1 s2 BACKEND",
		"show stat -1 -1 -1":    "FRONTEND s1 s2 BACKEND",
		"show stat -1 4 -1":     "s1 s2",
		"show stat -1 3 -1":     "FRONTEND BACKEND",
		"show stat be -1 -1":    "s1 s2 BACKEND",
		"show stat 2 -1 -1":     "FRONTEND",
		"show stat 3 4 2":       "s2",
		"show stat -1 -1":       "FRONTEND s1 s2 BACKEND", // two arguments: no filter (HAProxy)
		"show stat up":          "FRONTEND s1 s2 BACKEND",
		"show stat -1 -1 -1 up": "FRONTEND s1 s2 BACKEND",
	} {
		if got := names(line); got != want {
			t.Errorf("%q: rows %q, want %q", line, got, want)
		}
	}
	f := newFake()
	answer(f, config.LevelAdmin, "disable server be/s1")
	_, rows := parseCSV(t, answer(f, config.LevelAdmin, "show stat no-maint"))
	if _, ok := rows["s1"]; ok || rows["BACKEND"]["status"] != "UP (1/2)" {
		t.Errorf("no-maint: s1 shown %v, backend status %q", ok, rows["BACKEND"]["status"])
	}
}

func TestCSVQuoting(t *testing.T) {
	for in, want := range map[string]string{"plain": "plain", "a,b": `"a,b"`, `say "x"`: `"say ""x"""`, "Layer4 connection problem": "Layer4 connection problem"} {
		if got := string(appendCSV(nil, in)); got != want {
			t.Errorf("%q -> %s, want %s", in, got, want)
		}
	}
}
