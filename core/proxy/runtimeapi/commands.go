package runtimeapi

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/proxy/config"
)

// client is one API connection's state: its level and mode. Commands run
// on the client's goroutine and write to w.
type client struct {
	px      Proxy
	level   config.Level
	prompt  bool
	quit    bool
	timeout time.Duration // idle limit; "set timeout cli" changes it
	w       io.Writer
}

// command is one entry of the command table: the words that select it,
// its help line, and its handler (args are all the words, keywords
// included).
type command struct {
	kw    []string
	usage string
	help  string
	run   func(c *client, args []string)
}

// commands are the supported commands, in help order (alphabetical, then
// help/prompt/quit, as HAProxy lists them).
var commands []command

// closing are the last three help lines HAProxy always lists.
var closing []command

func init() {
	closing = []command{
		{kw: []string{"help"}, usage: "help [<command>]", help: "list matching or all commands", run: (*client).help},
		{kw: []string{"prompt"}, usage: "prompt", help: "toggle interactive mode with prompt", run: func(c *client, _ []string) { c.prompt = !c.prompt }},
		{kw: []string{"quit"}, usage: "quit", help: "disconnect", run: func(c *client, _ []string) { c.quit = true }},
	}
	commands = append([]command{
		{kw: []string{"clear", "table"}, usage: "clear table <table> [key <key>]", help: "remove an entry from a table, or all of them", run: (*client).clearTable},
		{kw: []string{"disable", "server"}, usage: "disable server <bk>/<srv>", help: "disable a server for maintenance (use 'set server' instead)", run: (*client).disableServer},
		{kw: []string{"enable", "server"}, usage: "enable server <bk>/<srv>", help: "enable a disabled server (use 'set server' instead)", run: (*client).enableServer},
		{kw: []string{"get", "weight"}, usage: "get weight <bk>/<srv>", help: "report a server's current weight", run: (*client).getWeight},
		{kw: []string{"operator"}, usage: "operator", help: "lower the level of the current CLI session to operator", run: (*client).setLevel},
		{kw: []string{"set", "server"}, usage: "set server <bk>/<srv> state|weight ...", help: "change a server's state (ready, drain, maint) or weight", run: (*client).setServer},
		{kw: []string{"set", "timeout"}, usage: "set timeout cli <delay>", help: "change this session's idle timeout (seconds)", run: (*client).setTimeout},
		{kw: []string{"set", "weight"}, usage: "set weight <bk>/<srv> <w>[%]", help: "change a server's weight (use 'set server' instead)", run: (*client).setWeight},
		{kw: []string{"show", "backend"}, usage: "show backend", help: "list backends in the current running config", run: (*client).showBackend},
		{kw: []string{"show", "cli", "level"}, usage: "show cli level", help: "display the level of the current CLI session", run: func(c *client, _ []string) { c.printf("%s\n", c.level) }},
		{kw: []string{"show", "info"}, usage: "show info", help: "report information about the running process", run: (*client).showInfo},
		{kw: []string{"show", "servers", "state"}, usage: "show servers state [<backend>]", help: "dump volatile server information (all or for a single backend)", run: (*client).showServersState},
		{kw: []string{"show", "stat"}, usage: "show stat [{<iid>|<px>} <type> <sid>] [up|no-maint]", help: "report counters for each proxy and server (CSV)", run: (*client).showStat},
		{kw: []string{"show", "table"}, usage: "show table [<table> [key <key>]]", help: "report table usage stats or dump this table's contents", run: (*client).showTable},
		{kw: []string{"show", "version"}, usage: "show version", help: "show version of the current process", run: func(c *client, _ []string) { c.printf("%s\n", c.px.Info().Version) }},
		{kw: []string{"user"}, usage: "user", help: "lower the level of the current CLI session to user", run: (*client).setLevel},
	}, closing...)
}

func (c *client) printf(format string, args ...any) { fmt.Fprintf(c.w, format, args...) }

// exec runs one command (its words). The caller writes the end-of-output
// marker ("\n" or "\n> ").
func (c *client) exec(args []string) {
	if len(args) == 0 {
		c.printf("Unknown command. Please enter one of the following commands only:\n")
		c.usage(commands)
		return
	}
	if cmd := lookup(args); cmd != nil {
		cmd.run(c, args)
		return
	}
	// HAProxy suggests close matches; here: the commands sharing the
	// first word, else all of them.
	var near []command
	for _, cmd := range commands {
		if cmd.kw[0] == args[0] {
			near = append(near, cmd)
		}
	}
	if len(near) == 0 {
		near = commands
	} else {
		near = append(near, closing...)
	}
	c.printf("Unknown command, but maybe one of the following ones is a better match:\n")
	c.usage(near)
}

// lookup finds the command whose keywords begin args.
func lookup(args []string) *command {
	for i := range commands {
		cmd := &commands[i]
		if len(args) < len(cmd.kw) {
			continue
		}
		ok := true
		for j, k := range cmd.kw {
			if args[j] != k {
				ok = false
				break
			}
		}
		if ok {
			return cmd
		}
	}
	return nil
}

func (c *client) usage(cmds []command) {
	for _, cmd := range cmds {
		c.printf("  %-40s: %s\n", cmd.usage, cmd.help)
	}
}

func (c *client) help(args []string) {
	var list []command
	for _, cmd := range commands {
		match := true
		for i, a := range args[1:] {
			if i >= len(cmd.kw) || cmd.kw[i] != a {
				match = false
				break
			}
		}
		if match {
			list = append(list, cmd)
		}
	}
	if len(args) > 1 {
		list = append(list, closing...)
		// The closing commands may have matched already.
		seen := map[string]bool{}
		out := list[:0]
		for _, cmd := range list {
			if !seen[cmd.usage] {
				seen[cmd.usage] = true
				out = append(out, cmd)
			}
		}
		list = out
	}
	c.printf("The following commands are valid at this level:\n")
	c.usage(list)
}

// needLevel prints HAProxy's "Permission denied" when the session is below
// l.
func (c *client) needLevel(l config.Level) bool {
	if c.level < l {
		c.printf("Permission denied\n")
		return false
	}
	return true
}

func (c *client) setLevel(args []string) {
	l := config.LevelOperator
	if args[0] == "user" {
		l = config.LevelUser
	}
	if c.needLevel(l) {
		c.level = l
	}
}

// findServer resolves "backend/server" (either may be "#<id>") and prints
// HAProxy's message when it cannot.
func (c *client) findServer(arg string) (be, srv string, ok bool) {
	be, srv, found := strings.Cut(arg, "/")
	if !found || be == "" || srv == "" {
		c.printf("Require 'backend/server'.\n")
		return "", "", false
	}
	rows := c.px.StatRows()
	if id, isID := numericID(be); isID {
		be = ""
		for _, r := range rows {
			if r.Type == BackendRow && r.IID == id {
				be = r.Proxy
			}
		}
	}
	hasBackend := false
	for _, r := range rows {
		if r.Type == BackendRow && r.Proxy == be {
			hasBackend = true
		}
	}
	if !hasBackend {
		c.printf("No such backend.\n")
		return "", "", false
	}
	if id, isID := numericID(srv); isID {
		srv = ""
		for _, r := range rows {
			if r.Type == ServerRow && r.Proxy == be && r.SID == id {
				srv = r.Name
			}
		}
	}
	for _, r := range rows {
		if r.Type == ServerRow && r.Proxy == be && r.Name == srv {
			return be, srv, true
		}
	}
	c.printf("No such server.\n")
	return "", "", false
}

// numericID reads HAProxy's "#<id>" form.
func numericID(s string) (int, bool) {
	if !strings.HasPrefix(s, "#") {
		return 0, false
	}
	n, err := strconv.Atoi(s[1:])
	return n, err == nil
}

// report prints an error from the proxy in HAProxy's words.
func (c *client) report(err error) {
	switch {
	case err == nil:
	case errors.Is(err, ErrNoBackend):
		c.printf("No such backend.\n")
	case errors.Is(err, ErrNoServer):
		c.printf("No such server.\n")
	case errors.Is(err, ErrNoTable):
		c.printf("No such table\n")
	case errors.Is(err, ErrInvalidKey):
		c.printf("Invalid key\n")
	case errors.Is(err, ErrStaticWeight):
		c.printf("%s\n", ErrStaticWeight)
	default:
		c.printf("%s\n", oneLine(err.Error()))
	}
}

func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\r", " ").Replace(s) }

func (c *client) arg(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}

func (c *client) disableServer(args []string) { c.adminCmd(args, Maint) }
func (c *client) enableServer(args []string)  { c.adminCmd(args, Ready) }

func (c *client) adminCmd(args []string, a Admin) {
	if !c.needLevel(config.LevelAdmin) {
		return
	}
	be, srv, ok := c.findServer(c.arg(args, 2))
	if !ok {
		return
	}
	c.report(c.px.SetServerAdmin(be, srv, a))
}

func (c *client) getWeight(args []string) {
	be, srv, ok := c.findServer(c.arg(args, 2))
	if !ok {
		return
	}
	cur, initial, err := c.px.ServerWeight(be, srv)
	if err != nil {
		c.report(err)
		return
	}
	c.printf("%d (initial %d)\n", cur, initial)
}

func (c *client) setWeight(args []string) {
	if !c.needLevel(config.LevelAdmin) {
		return
	}
	be, srv, ok := c.findServer(c.arg(args, 2))
	if !ok {
		return
	}
	c.changeWeight(be, srv, c.arg(args, 3))
}

// maxWeight is HAProxy's SRV_UWGHT_MAX.
const maxWeight = 256

// changeWeight applies "<w>" or "<w>%" (relative to the initial weight,
// capped at 256) with HAProxy's messages.
func (c *client) changeWeight(be, srv, arg string) {
	if arg == "" {
		c.printf("Require <weight> or <weight%%>.\n")
		return
	}
	_, initial, err := c.px.ServerWeight(be, srv)
	if err != nil {
		c.report(err)
		return
	}
	w, msg := parseWeight(arg, initial)
	if msg != "" {
		c.printf("%s", msg)
		return
	}
	c.report(c.px.SetServerWeight(be, srv, w))
}

// parseWeight reads an absolute or relative weight as HAProxy's
// server_parse_weight_change_request; msg is its error text ("" if ok).
func parseWeight(arg string, initial int) (w int, msg string) {
	i := 0
	if i < len(arg) && (arg[i] == '-' || arg[i] == '+') {
		i++
	}
	j := i
	for j < len(arg) && arg[j] >= '0' && arg[j] <= '9' {
		j++
	}
	if j == i {
		return 0, "Empty weight string empty or preceded by garbage"
	}
	// Saturate instead of overflowing: anything this large is out of range.
	n, err := strconv.ParseInt(arg[:j], 10, 32)
	if err != nil {
		n = 1 << 30
		if arg[0] == '-' {
			n = -n
		}
	}
	switch arg[j:] {
	case "%":
		if n < 0 {
			return 0, "Relative weight must be positive.\n"
		}
		v := int64(initial) * n / 100
		return int(min(v, maxWeight)), ""
	case "":
		if n < 0 || n > maxWeight {
			return 0, "Absolute weight can only be between 0 and 256 inclusive.\n"
		}
		return int(n), ""
	}
	return 0, "Trailing garbage in weight string"
}

// setServerUsage is HAProxy 2.6's text, the subcommands it knows; only
// state and weight are implemented here.
const setServerUsage = "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n"

func (c *client) setServer(args []string) {
	if !c.needLevel(config.LevelAdmin) {
		return
	}
	be, srv, ok := c.findServer(c.arg(args, 2))
	if !ok {
		return
	}
	switch sub := c.arg(args, 3); sub {
	case "state":
		var a Admin
		switch c.arg(args, 4) {
		case "ready":
			a = Ready
		case "drain":
			a = Drain
		case "maint":
			a = Maint
		default:
			c.printf("'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n")
			return
		}
		c.report(c.px.SetServerAdmin(be, srv, a))
	case "weight":
		c.changeWeight(be, srv, c.arg(args, 4))
	case "addr", "agent", "agent-addr", "agent-port", "agent-send", "check-addr", "check-port", "fqdn", "health", "ssl":
		c.printf("'set server <srv> %s' is not supported by this proxy (only 'state' and 'weight').\n", sub)
	default:
		c.printf("%s", setServerUsage)
	}
}

func (c *client) setTimeout(args []string) {
	if c.arg(args, 2) != "cli" {
		c.printf("'set timeout' only supports 'cli'.\n")
		return
	}
	n, err := strconv.Atoi(c.arg(args, 3))
	if err != nil || n <= 0 || n > 86400 {
		c.printf("Expects an integer value.\n")
		return
	}
	c.timeout = time.Duration(n) * time.Second
}

func (c *client) showBackend(_ []string) {
	c.printf("# name\n")
	for _, r := range c.px.StatRows() {
		if r.Type == BackendRow {
			c.printf("%s\n", r.Proxy)
		}
	}
}

func (c *client) showInfo(args []string) {
	for _, a := range args[2:] {
		if a == "typed" || a == "json" || a == "desc" || a == "float" {
			c.printf("'show info %s' is not supported by this proxy (plain format only).\n", a)
			return
		}
	}
	in := c.px.Info()
	up := in.Now.Sub(in.Start)
	if up < 0 {
		up = 0
	}
	s := int64(up / time.Second)
	b01 := 0
	if in.Stopping {
		b01 = 1
	}
	c.printf("Name: %s\nVersion: %s\n", in.Name, in.Version)
	if in.Threads > 0 {
		c.printf("Nbthread: %d\n", in.Threads)
	}
	c.printf("Nbproc: 1\nProcess_num: 1\nPid: %d\n", in.Pid)
	c.printf("Uptime: %dd %dh%02dm%02ds\nUptime_sec: %d\n", s/86400, s%86400/3600, s%3600/60, s%60, s)
	c.printf("Maxconn: %d\nHard_maxconn: %d\nCurrConns: %d\nCumConns: %d\n", in.MaxConn, in.MaxConn, in.CurrConns, in.CumConns)
	c.printf("Stopping: %d\nListeners: %d\nTotalBytesOut: %d\nStart_time_sec: %d\n", b01, in.Listeners, in.BytesOut, in.Start.Unix())
}

// showStat prints the CSV: the header, then the selected rows.
func (c *client) showStat(args []string) {
	iid, typ, sid := -1, -1, -1
	rest := args[2:]
	rows := c.px.StatRows()
	if len(rest) >= 3 {
		switch p := rest[0]; {
		case p == "-1":
		default:
			if n, err := strconv.Atoi(p); err == nil {
				iid = n
				break
			}
			iid = -2
			for _, r := range rows {
				if r.Proxy == p {
					iid = r.IID
					break
				}
			}
			if iid == -2 {
				c.printf("No such proxy.\n")
				return
			}
		}
		typ = atoi(rest[1])
		sid = atoi(rest[2])
		rest = rest[3:]
	}
	var hideDown, hideMaint bool
	for _, a := range rest {
		switch a {
		case "up":
			hideDown = true
		case "no-maint":
			hideMaint = true
		case "typed", "json", "desc":
			c.printf("'show stat %s' is not supported by this proxy (CSV only).\n", a)
			return
		}
	}
	b := append([]byte(statHeader), '\n')
	showAddr := c.level >= config.LevelOperator
	for i := range rows {
		r := &rows[i]
		if iid != -1 && r.IID != iid || typ&(1<<r.Type) == 0 {
			continue
		}
		if r.Type == ServerRow {
			if sid != -1 && r.SID != sid {
				continue
			}
			maint := strings.HasPrefix(r.Status, "MAINT")
			if hideMaint && maint || hideDown && (maint || strings.HasPrefix(r.Status, "DOWN")) {
				continue
			}
		}
		if r.Type == BackendRow && (hideDown || hideMaint) {
			up, all := 0, 0
			for _, s := range rows {
				if s.Type == ServerRow && s.Proxy == r.Proxy {
					all++
					if !strings.HasPrefix(s.Status, "MAINT") && !strings.HasPrefix(s.Status, "DOWN") {
						up++
					}
				}
			}
			cp := *r
			cp.Status = fmt.Sprintf("%s (%d/%d)", r.Status, up, all)
			r = &cp
		}
		b = appendStatRow(b, r, showAddr)
	}
	_, _ = c.w.Write(b)
}

// atoi is C's atoi for the stat filter: digits after an optional '-', else 0.
func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}

func (c *client) findTable(name string) Table {
	for _, t := range c.px.Tables() {
		if t.Name() == name {
			return t
		}
	}
	return nil
}

// tableOps are the data filter's operators (HAProxy's STD_OP_*).
var tableOps = map[string]bool{"eq": true, "ne": true, "le": true, "ge": true, "lt": true, "gt": true}

// tableFilter reads the filter words after a table's name, as HAProxy
// 2.6's table_prepare_data_request: "key <key>" (further words ignored), or
// up to len(rest)/3 "data.<type> <op> <value>" conditions. ok false: the
// error was printed (bad is the text for an unknown first word).
func (c *client) tableFilter(rest []string, bad string) (f TableFilter, ok bool) {
	if len(rest) == 0 {
		return f, true
	}
	if rest[0] == "key" {
		if len(rest) < 2 {
			c.printf("Key value expected\n")
			return f, false
		}
		return TableFilter{Key: rest[1], HasKey: true}, true
	}
	if !strings.HasPrefix(rest[0], "data.") {
		c.printf("%s", bad)
		return f, false
	}
	for i := 0; i < len(rest); i += 3 {
		n := i/3 + 1
		typ, isData := strings.CutPrefix(rest[i], "data.")
		if !isData || typ == "" {
			c.printf("Filter entry #%d: Unknown data type\n", n)
			return f, false
		}
		op := c.arg(rest, i+1)
		if !tableOps[op] {
			c.printf("Filter entry #%d: Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"\n", n)
			return f, false
		}
		v, err := strconv.ParseInt(c.arg(rest, i+2), 10, 64)
		if err != nil {
			c.printf("Filter entry #%d: Require a valid integer value to compare against\n", n)
			return f, false
		}
		f.Data = append(f.Data, DataCond{Type: typ, Op: op, Value: v})
	}
	return f, true
}

func (c *client) showTable(args []string) {
	if len(args) < 3 {
		for _, t := range c.px.Tables() {
			c.report(t.Head(c.w))
		}
		return
	}
	t := c.findTable(args[2])
	if t == nil {
		c.printf("No such table\n")
		return
	}
	f, ok := c.tableFilter(args[3:], "Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>\n")
	if !ok {
		return
	}
	if c.level < config.LevelOperator {
		c.report(t.Head(c.w))
		c.printf("# contents not dumped due to insufficient privileges\n")
		return
	}
	// Streamed: a table's dump is bounded by its size, not held here. A
	// table reports a bad key or filter before writing anything.
	if err := t.Dump(c.w, f); err != nil {
		c.report(err)
	}
}

const clearTableUsage = "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>\n"

func (c *client) clearTable(args []string) {
	if len(args) < 3 {
		c.printf("%s", clearTableUsage)
		return
	}
	t := c.findTable(args[2])
	if t == nil {
		c.printf("No such table\n")
		return
	}
	f, ok := c.tableFilter(args[3:], clearTableUsage)
	if !ok {
		return
	}
	// HAProxy silently ignores a clear below level operator.
	if c.level < config.LevelOperator {
		return
	}
	c.report(t.Clear(f))
}

// serversStateHeader is format 1 of HAProxy's server-state file, which
// "show servers state" prints.
const serversStateHeader = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n"

// HAProxy's numbers in the state file.
const (
	admFMaint = 0x01 // SRV_ADMF_FMAINT
	admCMaint = 0x04 // SRV_ADMF_CMAINT
	admFDrain = 0x08 // SRV_ADMF_FDRAIN

	chkStConfigured = 0x02 // CHK_ST_CONFIGURED
	chkStEnabled    = 0x04 // CHK_ST_ENABLED
	chkStPaused     = 0x08 // CHK_ST_PAUSED

	hchkIni = 1 // HCHK_STATUS_INI

	chkResFailed   = 2 // CHK_RES_FAILED
	chkResPassed   = 3 // CHK_RES_PASSED
	chkResCondPass = 4 // CHK_RES_CONDPASS
)

// hchkStatus numbers HAProxy 2.6's check statuses (enum
// healthcheck_status) for the state file.
var hchkStatus = map[string]int{
	"SOCKERR": 5, "L4OK": 6, "L4TOUT": 7, "L4CON": 8, "L6OK": 9, "L6TOUT": 10, "L6RSP": 11,
	"L7TOUT": 12, "L7RSP": 13, "L7OK": 15, "L7OKC": 16, "L7STS": 17,
}

func (c *client) showServersState(args []string) {
	want := c.arg(args, 3)
	states := c.px.ServersState()
	if want != "" {
		found := false
		for _, r := range c.px.StatRows() {
			if r.Type == BackendRow && r.Proxy == want {
				found = true
			}
		}
		if !found {
			c.printf("Can't find backend.\n")
			return
		}
	}
	var b strings.Builder
	b.WriteString(serversStateHeader)
	for _, s := range states {
		if want != "" && s.Backend != want {
			continue
		}
		op := 0
		if s.Running {
			op = 2
		}
		adm := 0
		if s.Admin == Maint {
			adm |= admFMaint
		}
		if s.ConfigMaint {
			adm |= admCMaint
		}
		if s.Admin == Drain {
			adm |= admFDrain
		}
		status, result, health, chk := hchkIni, 0, s.Rise, 0
		if s.Checked {
			chk = chkStConfigured | chkStEnabled
			if s.Admin == Maint {
				chk |= chkStPaused
			}
			health = s.CheckHealth
			if n, ok := hchkStatus[s.CheckStatus]; ok {
				status, result = n, chkResFailed
				switch {
				case s.CheckStatus == "L7OKC":
					result = chkResCondPass
				case s.CheckPassed:
					result = chkResPassed
				}
			}
		} else if s.ConfigMaint {
			chk = chkStPaused
		}
		dash := func(v string) string {
			if v == "" {
				return "-"
			}
			return v
		}
		agentPort := s.CheckPort
		ssl := 0
		if s.UseSSL {
			ssl = 1
		}
		fmt.Fprintf(&b, "%d %s %d %s %s %d %d %d %d %d %d %d %d %d 0 0 0 %s %d - %d %d %s %s %d\n",
			s.BackendID, s.Backend, s.ID, s.Name, s.Host, op, adm, s.UWeight, s.IWeight, s.LastChange,
			status, result, health, chk, dash(s.FQDN), s.Port, ssl, s.CheckPort, dash(s.CheckAddr), dash(s.CheckAddr), agentPort)
	}
	c.printf("%s", b.String())
}
