package sshhost

import (
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/supervise"
)

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]Target{
		"ssh://root@198.51.100.10:2222": {User: "root", Host: "198.51.100.10", Port: 2222},
		"ssh://bench@host.example":      {User: "bench", Host: "host.example"},
		"ssh://u@[2001:db8::1]:22":      {User: "u", Host: "2001:db8::1", Port: 22},
	} {
		got, err := ParseTarget(in)
		if err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", in, got, err, want)
		}
		if again, err := ParseTarget(got.String()); err != nil || again != got {
			t.Errorf("%s: String %q does not parse back: %+v %v", in, got.String(), again, err)
		}
	}
	for _, bad := range []string{"", "root@h", "ssh://h", "ssh://u:pw@h", "ssh://u@h:0", "ssh://u@h:x", "ssh://u@h/path",
		"http://u@h", "ssh://-oProxyCommand=x@h", "ssh://u@h?x=1"} {
		if _, err := ParseTarget(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestQuoteAndCommand(t *testing.T) {
	if q := Quote("a'b c"); q != `'a'\''b c'` {
		t.Errorf("Quote: %s", q)
	}
	if q := Quote("/tmp/x/perf"); q != "/tmp/x/perf" {
		t.Errorf("Quote plain: %s", q)
	}
	if q := Quote(""); q != "''" {
		t.Errorf("Quote empty: %s", q)
	}
	cd, cmd := command(supervise.Spec{Path: "/d/bin/goroutine", Args: []string{"msgr-server", "--listen", "198.51.100.10:0", "$(x)"},
		Env: []string{"A=b c"}, CPUs: []int{1, 3}, Dir: "/d"})
	if cd != "cd /d && " || cmd != `taskset -c 1,3 env 'A=b c' /d/bin/goroutine msgr-server --listen 198.51.100.10:0 '$(x)'` {
		t.Errorf("command: %q %q", cd, cmd)
	}
}

func TestSplitTimes(t *testing.T) {
	for _, in := range []string{
		// dash; the login shell had reaped 0.1 s of children before
		"0m0.000000s 0m0.000000s\n0m0.080000s 0m0.020000s\nNETMODELS_REMOTE_PID 4242\nwarning: x\n0m0.000000s 0m0.004000s\n0m1.330000s 0m0.520000s\n",
		"0m0.000s 0m0.000s\n0m0.000s 0m0.000s\nNETMODELS_REMOTE_PID 4242\nwarning: x\n0m0.001s 0m0.002s\n0m1.250s 0m0.500s\n", // bash
	} {
		rest, cpu := splitTimes(in)
		if rest != "warning: x\n" || cpu != 1750*time.Millisecond {
			t.Errorf("%q: %q %v", in, rest, cpu)
		}
		if pid, ok := remotePID(in); !ok || pid != 4242 {
			t.Errorf("remotePID: %d %v", pid, ok)
		}
	}
	if rest, cpu := splitTimes("0m0.000s 0m0.000s\n0m0.000s 0m0.000s\nkilled\n"); rest != "killed\n" || cpu != 0 {
		t.Errorf("no times after: %q %v", rest, cpu)
	}
	if _, ok := remotePID("x NETMODELS_REMOTE_PID 12\n"); ok {
		t.Error("a PID word inside a line was taken")
	}
}

func TestParseUsage(t *testing.T) {
	stat := "4242 (gorou tine) S 1 4242 4242 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 5 0 1 1 1\n"
	status := "Name:\tgoroutine\nVmHWM:\t   12000 kB\nVmRSS:\t   10000 kB\nThreads:\t5\n"
	u, err := parseUsage(stat + "@@\n" + status + "@@\n" + "1000000000 5 6\n500000000 1 2\n")
	if err != nil || u.CPUSeconds != 1.5 || u.TickCPUSeconds != 2 || u.RSSBytes != 10000<<10 || u.PeakBytes != 12000<<10 || u.Threads != 5 {
		t.Fatalf("%+v %v", u, err)
	}
	if _, err := parseUsage(strings.Repeat("x", 10)); err == nil {
		t.Error("garbage parsed")
	}
}

func TestFramed(t *testing.T) {
	s := "@@NETMODELS_BEGIN_1@@\nold\n\n@@NETMODELS_END_1@@ 0\n@@NETMODELS_BEGIN_2@@\n6.18.0 x86_64\n\n@@NETMODELS_END_2@@ 3\n"
	if out, code, ok := framed(s, "@@NETMODELS_BEGIN_2@@", "@@NETMODELS_END_2@@"); !ok || out != "6.18.0 x86_64\n" || code != 3 {
		t.Errorf("%q %d %v", out, code, ok)
	}
	if out, code, ok := framed(s, "@@NETMODELS_BEGIN_1@@", "@@NETMODELS_END_1@@"); !ok || out != "old\n" || code != 0 {
		t.Errorf("%q %d %v", out, code, ok)
	}
	for _, partial := range []string{s[:len(s)-1], s[:len(s)-3], "@@NETMODELS_BEGIN_3@@\nx"} {
		if _, _, ok := framed(partial, "@@NETMODELS_BEGIN_3@@", "@@NETMODELS_END_3@@"); ok {
			t.Errorf("%q: an unfinished answer taken", partial)
		}
	}
	// An answer without a trailing newline still ends before the echoed one.
	if out, _, ok := framed("@@B@@\nno-newline\n@@E@@ 0\n", "@@B@@", "@@E@@"); !ok || out != "no-newline" {
		t.Errorf("%q %v", out, ok)
	}
}
