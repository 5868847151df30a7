package runtimeapi

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/netmodels/netmodels/core/proxy/config"
)

func TestSplitLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want [][]string
	}{
		{"", [][]string{nil}},
		{"show stat", [][]string{{"show", "stat"}}},
		{"  get   weight\tbe/s1  \r", [][]string{{"get", "weight", "be/s1"}}},
		{"show info;show stat", [][]string{{"show", "info"}, {"show", "stat"}}},
		{"a;;b", [][]string{{"a"}, nil, {"b"}}},
		{`get weight be/s1\;get`, [][]string{{"get", "weight", "be/s1;get"}}},
		{`a\ b c\\d`, [][]string{{"a b", `c\d`}}},
		{`a\`, [][]string{{`a\`}}},
		{`\`, [][]string{{`\`}}},
		{"x;", [][]string{{"x"}, nil}},
	} {
		if got := SplitLine(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	many := strings.Repeat("w ", 100)
	if got := SplitLine(many); len(got) != 1 || len(got[0]) != MaxArgs {
		t.Errorf("100 words: %d commands, %d words; want 1 and %d", len(got), len(got[0]), MaxArgs)
	}
}

// answer runs one request line the way a non-interactive client sees it.
func answer(px Proxy, level config.Level, line string) string {
	var b strings.Builder
	c := &client{px: px, level: level, w: &b}
	for _, args := range SplitLine(line) {
		c.exec(args)
		b.WriteString("\n")
	}
	return b.String()
}

// The answers are HAProxy 2.6's texts (captured from haproxy 2.6.12 for the
// same commands), so scripts that parse them keep working.
func TestCommandAnswers(t *testing.T) {
	A, O, U := config.LevelAdmin, config.LevelOperator, config.LevelUser
	for _, tc := range []struct {
		level      config.Level
		line, want string
	}{
		{A, "get weight be/s1", "3 (initial 3)\n\n"},
		{U, "get weight be/s2", "1 (initial 1)\n\n"},
		{A, "get weight #3/#2", "1 (initial 1)\n\n"},
		{A, "get weight be/s1;get weight be/s2", "3 (initial 3)\n\n1 (initial 1)\n\n"},
		{A, "get weight be", "Require 'backend/server'.\n\n"},
		{A, "get weight nobe/s1", "No such backend.\n\n"},
		{A, "get weight #9/s1", "No such backend.\n\n"},
		{A, "get weight be/nos", "No such server.\n\n"},
		{A, "get weight fe/s1", "No such backend.\n\n"},
		{A, "set weight be/s1 10", "\n"},
		{A, "set weight be/s1 300", "Absolute weight can only be between 0 and 256 inclusive.\n\n"},
		{A, "set weight be/s1 -1", "Absolute weight can only be between 0 and 256 inclusive.\n\n"},
		{A, "set weight be/s1 abc", "Empty weight string empty or preceded by garbage\n"},
		{A, "set weight be/s1 5x", "Trailing garbage in weight string\n"},
		{A, "set weight be/s1 -5%", "Relative weight must be positive.\n\n"},
		{A, "set weight be/s1", "Require <weight> or <weight%>.\n\n"},
		{A, "set weight be", "Require 'backend/server'.\n\n"},
		{A, "set weight nobe/s1 3", "No such backend.\n\n"},
		{O, "set weight be/s1 2", "Permission denied\n\n"},
		{U, "disable server be/s1", "Permission denied\n\n"},
		{O, "set server be/s1 state maint", "Permission denied\n\n"},
		{A, "disable server be/nos", "No such server.\n\n"},
		{A, "disable server", "Require 'backend/server'.\n\n"},
		{A, "set server be/s1 state foo", "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"},
		{A, "set server be/s1", setServerUsage + "\n"},
		{A, "set server be/s1 foo", setServerUsage + "\n"},
		{A, "set server be/s1 addr 1.2.3.4", "'set server <srv> addr' is not supported by this proxy (only 'state' and 'weight').\n\n"},
		{A, "show cli level", "admin\n\n"},
		{U, "show cli level", "user\n\n"},
		{A, "operator;show cli level;user;show cli level;operator", "\noperator\n\n\nuser\n\nPermission denied\n\n"},
		{A, "show version", "2.6-compat\n\n"},
		{A, "show backend", "# name\nbe\n\n"},
		{A, "show table", "# table: fe, type: ip, size:100, used:2\n\n"},
		{A, "show table fe", "# table: fe, type: ip, size:100, used:2\n0x1: key=127.0.0.1 use=0 exp=0 conn_cnt=1\n0x2: key=127.0.0.2 use=0 exp=0 conn_cnt=2\n\n"},
		{A, "show table fe key 127.0.0.2", "# table: fe, type: ip, size:100, used:2\n0x2: key=127.0.0.2 use=0 exp=0 conn_cnt=2\n\n"},
		{A, "show table fe key 127.0.0.9", "\n"},
		{A, "show table fe key zz", "Invalid key\n\n"},
		{A, "show table fe key", "Key value expected\n\n"},
		{A, "show table fe foo", "Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>\n\n"},
		{U, "show table fe", "# table: fe, type: ip, size:100, used:2\n# contents not dumped due to insufficient privileges\n\n"},
		{A, "show table nope", "No such table\n\n"},
		{A, "clear table nope", "No such table\n\n"},
		{U, "clear table nope", "No such table\n\n"},
		{A, "clear table", clearTableUsage + "\n"},
		{A, "clear table fe foo", clearTableUsage + "\n"},
		{A, "clear table fe key", "Key value expected\n\n"},
		{U, "clear table fe;show table", "\n# table: fe, type: ip, size:100, used:2\n\n"},
		{O, "clear table fe key 127.0.0.1;show table", "\n# table: fe, type: ip, size:100, used:1\n\n"},
		{A, "clear table fe;show table", "\n# table: fe, type: ip, size:100, used:0\n\n"},
		{A, "show table fe data.conn_cnt gt 1", "# table: fe, type: ip, size:100, used:2\n0x2: key=127.0.0.2 use=0 exp=0 conn_cnt=2\n\n"},
		{A, "show table fe data.conn_cnt gt 5", "# table: fe, type: ip, size:100, used:2\n\n"},
		{A, "show table fe data.conn_cnt gt 0 data.conn_cnt eq 1", "# table: fe, type: ip, size:100, used:2\n0x1: key=127.0.0.1 use=0 exp=0 conn_cnt=1\n\n"},
		{A, "show table fe data.conn_cur gt 0", "Filter entry #1: Data type not stored in this table\n\n"},
		{A, "show table fe data.conn_cnt", "Filter entry #1: Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"\n\n"},
		{A, "show table fe data.conn_cnt gt x", "Filter entry #1: Require a valid integer value to compare against\n\n"},
		{A, "show table fe data.conn_cnt gt 0 key 127.0.0.1", "Filter entry #2: Unknown data type\n\n"},
		{A, "show table fe key 127.0.0.1 data.conn_cnt gt 5", "# table: fe, type: ip, size:100, used:2\n0x1: key=127.0.0.1 use=0 exp=0 conn_cnt=1\n\n"},
		{A, "clear table fe data.conn_cnt gt 1;show table", "\n# table: fe, type: ip, size:100, used:1\n\n"},
		{A, "show stat foo bar baz", "No such proxy.\n\n"},
		{A, "show stat json", "'show stat json' is not supported by this proxy (CSV only).\n\n"},
		{A, "show info typed", "'show info typed' is not supported by this proxy (plain format only).\n\n"},
		{A, "set timeout cli 5", "\n"},
		{A, "set timeout cli x", "Expects an integer value.\n\n"},
		{A, "set timeout server 5", "'set timeout' only supports 'cli'.\n\n"},
		{A, "show servers state", serversStateHeader +
			"3 be 1 s1 127.0.0.1 2 0 3 3 4 1 0 2 0 0 0 0 - 80 - 0 0 - - 0\n" +
			"3 be 2 s2 localhost 2 0 1 1 4 6 3 4 6 0 0 0 localhost 81 - 0 9000 127.0.0.2 127.0.0.2 9000\n\n"},
		{A, "disable server be/s1;set server be/s2 state drain;show servers state be", "\n\n" + serversStateHeader +
			"3 be 1 s1 127.0.0.1 0 1 3 3 4 1 0 2 0 0 0 0 - 80 - 0 0 - - 0\n" +
			"3 be 2 s2 localhost 2 8 1 1 4 6 3 4 6 0 0 0 localhost 81 - 0 9000 127.0.0.2 127.0.0.2 9000\n\n"},
		{A, "show servers state nope", "Can't find backend.\n\n"},
		{A, "prompt", "\n"},
		{A, "quit", "\n"},
	} {
		if got := answer(newFake(), tc.level, tc.line); got != tc.want {
			t.Errorf("[%s] %q:\n got  %q\n want %q", tc.level, tc.line, got, tc.want)
		}
	}
}

func TestShowInfo(t *testing.T) {
	got := answer(newFake(), config.LevelUser, "show info")
	want := "Name: netmodels\nVersion: 2.6-compat\nNbproc: 1\nProcess_num: 1\nPid: 42\n" +
		"Uptime: 1d 2h03m04s\nUptime_sec: 93784\nMaxconn: 100\nHard_maxconn: 100\nCurrConns: 2\nCumConns: 7\n" +
		"Stopping: 0\nListeners: 1\nTotalBytesOut: 5\nStart_time_sec: 1700000000\n\n"
	if got != want {
		t.Errorf("show info:\n got  %q\n want %q", got, want)
	}
}

func TestUnknownCommandAndHelp(t *testing.T) {
	for _, tc := range []struct{ line, head, must, mustNot string }{
		{"foo", "Unknown command, but maybe one of the following ones is a better match:\n", "  show stat", ""},
		{"show foo", "Unknown command, but maybe one of the following ones is a better match:\n", "  quit", "  get weight"},
		{"", "Unknown command. Please enter one of the following commands only:\n", "  get weight <bk>/<srv>                   : report a server's current weight\n", ""},
		{"help", "The following commands are valid at this level:\n", "  set weight", ""},
		{"help show", "The following commands are valid at this level:\n", "  prompt                                  : toggle interactive mode with prompt\n", "  set weight"},
	} {
		got := answer(newFake(), config.LevelAdmin, tc.line)
		if !strings.HasPrefix(got, tc.head) || !strings.Contains(got, tc.must) || tc.mustNot != "" && strings.Contains(got, tc.mustNot) || !strings.HasSuffix(got, "\n\n") {
			t.Errorf("%q:\n%s", tc.line, got)
		}
	}
}

func TestSetWeightAndState(t *testing.T) {
	f := newFake()
	for _, tc := range []struct {
		line string
		w    int
	}{{"set weight be/s1 50%", 1}, {"set weight be/s1 1000%", 30}, {"set weight be/s1 100000%", 256}, {"set server be/s1 weight 0", 0}, {"set weight be/s1 100%", 3}, {"set weight be/s1 +7", 7}} {
		if out := answer(f, config.LevelAdmin, tc.line); out != "\n" {
			t.Fatalf("%q: %q", tc.line, out)
		}
		if f.weight["s1"] != tc.w {
			t.Errorf("%q: weight %d, want %d", tc.line, f.weight["s1"], tc.w)
		}
	}
	for _, tc := range []struct {
		line string
		a    Admin
	}{{"disable server be/s1", Maint}, {"enable server be/s1", Ready}, {"set server be/s1 state drain", Drain}, {"set server be/s1 state maint", Maint}, {"set server be/s1 state ready", Ready}} {
		if out := answer(f, config.LevelAdmin, tc.line); out != "\n" {
			t.Fatalf("%q: %q", tc.line, out)
		}
		if f.admin["s1"] != tc.a {
			t.Errorf("%q: state %v, want %v", tc.line, f.admin["s1"], tc.a)
		}
	}
}

// FuzzCommand feeds arbitrary request lines to the splitter and runs every
// command at level admin against the fake proxy: no panic, the split is
// bounded by the input, and every command's output is valid text that ends
// with its newline.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		"show stat", "show stat -1 -1 -1", "show stat be 4 1 up", "show info;show stat", "help", "help show", "prompt",
		"get weight be/s1", "set weight be/s1 50%", "set weight #3/#1 9999999999999999999%", "set server be/s1 state drain",
		"disable server be/s1", `get weight be/s1\;x`, "show table fe key 127.0.0.1", "clear table fe key ::1", "show table fe data.conn_cnt gt 1 data.x eq -9223372036854775808",
		"operator;user;set weight be/s1 1", "a;;b", `\`, "", "show stat x y z no-maint", "set timeout cli 99999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if len(line) > MaxLine {
			return // the server refuses longer lines before splitting
		}
		cmds := SplitLine(line)
		words := 0
		for _, c := range cmds {
			if len(c) > MaxArgs {
				t.Fatalf("%d words in one command", len(c))
			}
			words += len(c)
			for _, w := range c {
				if strings.ContainsAny(w, " \t") && !strings.Contains(line, `\`) {
					t.Fatalf("word %q holds a blank without an escape", w)
				}
			}
		}
		if len(cmds) > len(line)+1 || words > len(line) {
			t.Fatalf("%q split into %d commands, %d words", line, len(cmds), words)
		}
		px := newFake()
		for _, args := range cmds {
			var b strings.Builder
			c := &client{px: px, level: config.LevelAdmin, w: &b}
			c.exec(args)
			if out := b.String(); out != "" && !strings.HasSuffix(out, "\n") && !strings.HasSuffix(out, "garbage in weight string") && !strings.HasSuffix(out, "preceded by garbage") {
				t.Fatalf("%q: output %q does not end a line", args, out)
			}
			if utf8.ValidString(line) && !utf8.ValidString(b.String()) {
				t.Fatalf("%q: invalid UTF-8 output", args)
			}
		}
	})
}
