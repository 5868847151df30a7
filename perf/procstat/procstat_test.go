package procstat

import (
	"os"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	rest := " S 1 2 3 0 -1 4194560 100 0 0 0 %s %s 0 0 20 0 4 0 123 1000 200 18446744073709551615\n"
	line := func(comm, ut, st string) string {
		return "4242 (" + comm + ")" + strings.Replace(strings.Replace(rest, "%s", ut, 1), "%s", st, 1)
	}
	for _, tc := range []struct {
		name, in string
		want     Times
		err      string
	}{
		{"plain", line("gnet", "150", "42"), Times{User: 150, System: 42}, ""},
		{"spaces and parens in the name", line("a) (b c)", "7", "9"), Times{User: 7, System: 9}, ""},
		{"zero", line("x", "0", "0"), Times{}, ""},
		{"no paren", "4242 gnet S 1", Times{}, "no ')'"},
		{"short", "4242 (gnet) S 1 2 3", Times{}, "fields"},
		{"bad utime", line("x", "1.5", "2"), Times{}, "utime"},
		{"negative stime", line("x", "1", "-2"), Times{}, "stime"},
		{"too long", line(strings.Repeat("x", maxStat), "1", "2"), Times{}, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Parse = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestReadSelf(t *testing.T) {
	before, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn a little CPU: the counters never go down.
	x := 0
	for i := range 20_000_000 {
		x += i % 7
	}
	_ = x
	after, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := after.Sub(before); d.User < 0 || d.System < 0 {
		t.Fatalf("times went down: %+v", d)
	}
	if before.VolSwitches <= 0 {
		// A Go test process has blocked in a futex or a sleep long before.
		t.Fatalf("no voluntary switches counted: %+v", before)
	}
	if Seconds(150) != 1.5 {
		t.Fatal("Seconds")
	}
	if _, err := Read(-1); err == nil {
		t.Fatal("no such process: no error")
	}
}

// FuzzParse: any bytes give times or an error, never a panic, and never
// negative times.
func FuzzParse(f *testing.F) {
	f.Add([]byte("1 (x) S 1 2 3 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1\n"))
	f.Add([]byte("1 ()) S"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Parse(b)
		if err == nil && (got.User < 0 || got.System < 0) {
			t.Fatalf("negative times %+v from %q", got, b)
		}
	})
}

func TestParseVolSwitches(t *testing.T) {
	status := "Name:\tnetpoll\nState:\tS (sleeping)\nvoluntary_ctxt_switches:\t1234\nnonvoluntary_ctxt_switches:\t56\n"
	if n, err := ParseVolSwitches([]byte(status)); err != nil || n != 1234 {
		t.Fatalf("got %d, %v; want 1234", n, err)
	}
	for _, bad := range []string{"Name:\tx\n", "Name:\tx\nvoluntary_ctxt_switches:\tmany\n", "Name:\tx\nvoluntary_ctxt_switches:\t-1\n"} {
		if _, err := ParseVolSwitches([]byte(bad)); err == nil {
			t.Fatalf("%q: no error", bad)
		}
	}
}
