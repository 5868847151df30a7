package config

import (
	"fmt"
	"strings"

	"github.com/netmodels/netmodels/core/proxy/sticktable"
)

// Stick-counter fetches (HAProxy 2.6's names): for each counter read
// below there are four spellings,
//
//	sc_NAME(ctr[,table])  sc0_NAME([table])  sc1_NAME([table])  sc2_NAME([table])  src_NAME([table])
//
// sc*: the entry tracked by counter ctr (track-scN); no sample when the
// counter tracks nothing or its table does not store the data; with a
// table argument, the same key looked up in that table. src_*: the client
// address looked up in the table (default: the proxy's own), 0 when it
// has no entry; the lookup neither creates nor refreshes the entry.

// stickRead is one counter read by the sc*/src_* fetches.
type stickRead struct {
	name  string
	data  sticktable.Data
	shift uint // kbytes_*: the byte count divided by 1024
}

var stickReads = []stickRead{
	{"conn_cur", sticktable.ConnCur, 0},
	{"conn_cnt", sticktable.ConnCnt, 0},
	{"conn_rate", sticktable.ConnRate, 0},
	{"sess_cnt", sticktable.SessCnt, 0},
	{"sess_rate", sticktable.SessRate, 0},
	{"bytes_in_rate", sticktable.BytesInRate, 0},
	{"bytes_out_rate", sticktable.BytesOutRate, 0},
	{"kbytes_in", sticktable.BytesInCnt, 10},
	{"kbytes_out", sticktable.BytesOutCnt, 10},
	{"get_gpc0", sticktable.GPC0, 0},
	{"gpc0_rate", sticktable.GPC0Rate, 0},
	{"get_gpc1", sticktable.GPC1, 0},
	{"gpc1_rate", sticktable.GPC1Rate, 0},
	{"get_gpt0", sticktable.GPT0, 0},
	{"http_req_cnt", sticktable.HTTPReqCnt, 0},
	{"http_req_rate", sticktable.HTTPReqRate, 0},
	{"http_err_cnt", sticktable.HTTPErrCnt, 0},
	{"http_err_rate", sticktable.HTTPErrRate, 0},
	{"http_fail_cnt", sticktable.HTTPFailCnt, 0},
	{"http_fail_rate", sticktable.HTTPFailRate, 0},
}

// stickOp is what a fetch does with the entry it finds.
type stickOp func(e *Env, ent *sticktable.Entry, t *sticktable.Table, k sticktable.Key, smp *Sample) bool

// stickFetches builds the fetch entries of every spelling of every read,
// plus sc*_tracked, sc*_trackers and the gpc0 increment/clear fetches.
func stickFetches() []Fetch {
	var out []Fetch
	add := func(suffix string, out_ SampleType, srcToo bool, op stickOp) {
		out = append(out, Fetch{name: "sc_" + suffix, args: []ArgType{ArgInt, ArgStr}, minArgs: 1,
			out: out_, phase: PhaseConnection, fn: scFetch(-1, op)})
		stickTableArg["sc_"+suffix] = 1
		for n := 0; n < maxSC; n++ {
			name := fmt.Sprintf("sc%d_%s", n, suffix)
			out = append(out, Fetch{name: name, args: []ArgType{ArgStr},
				out: out_, phase: PhaseConnection, fn: scFetch(n, op)})
			stickTableArg[name] = 0
		}
		if srcToo {
			out = append(out, Fetch{name: "src_" + suffix, args: []ArgType{ArgStr},
				out: out_, phase: PhaseConnection, fn: srcFetch(op, suffix == "inc_gpc0" || suffix == "clr_gpc0")})
			stickTableArg["src_"+suffix] = 0
		}
	}
	for _, r := range stickReads {
		r := r
		add(r.name, TypeInt, true, func(_ *Env, ent *sticktable.Entry, t *sticktable.Table, k sticktable.Key, smp *Sample) bool {
			var v uint64
			if ent != nil {
				var ok bool
				if v, ok = ent.Value(r.data); !ok {
					return false
				}
			} else {
				var ok bool
				if v, _, ok = t.Read(k, r.data); !ok {
					return false
				}
			}
			smp.SetInt(int64(v >> r.shift))
			return true
		})
	}
	add("inc_gpc0", TypeInt, true, func(_ *Env, ent *sticktable.Entry, _ *sticktable.Table, _ sticktable.Key, smp *Sample) bool {
		if ent == nil {
			return false
		}
		v, ok := ent.IncGPC0()
		if !ok {
			return false
		}
		smp.SetInt(int64(v))
		return true
	})
	add("clr_gpc0", TypeInt, true, func(_ *Env, ent *sticktable.Entry, _ *sticktable.Table, _ sticktable.Key, smp *Sample) bool {
		if ent == nil {
			return false
		}
		v, ok := ent.ClearGPC0()
		if !ok {
			return false
		}
		smp.SetInt(int64(v))
		return true
	})
	add("trackers", TypeInt, false, func(_ *Env, ent *sticktable.Entry, t *sticktable.Table, k sticktable.Key, smp *Sample) bool {
		if ent != nil {
			smp.SetInt(int64(ent.Refs()))
		} else {
			smp.SetInt(int64(t.Refs(k)))
		}
		return true
	})
	// scN_tracked is true when counter N tracks something, false (a
	// sample, not a missing one) otherwise.
	stickTableArg["sc_tracked"] = -1
	out = append(out, Fetch{name: "sc_tracked", args: []ArgType{ArgInt, ArgStr}, minArgs: 1, out: TypeBool, phase: PhaseConnection,
		fn: func(e *Env, args []Arg, smp *Sample) bool {
			smp.SetBool(args[0].Int < maxSC && e.S.StickCtr(int(args[0].Int)) != nil)
			return true
		}})
	for n := 0; n < maxSC; n++ {
		n := n
		stickTableArg[fmt.Sprintf("sc%d_tracked", n)] = -1
		out = append(out, Fetch{name: fmt.Sprintf("sc%d_tracked", n), args: []ArgType{ArgStr}, out: TypeBool, phase: PhaseConnection,
			fn: func(e *Env, _ []Arg, smp *Sample) bool {
				smp.SetBool(e.S.StickCtr(n) != nil)
				return true
			}})
	}
	return out
}

// scFetch is an sc_ (n < 0: counter in args[0]) or scN_ fetch: the
// tracked entry, or with a table argument the same key in that table.
func scFetch(n int, op stickOp) func(e *Env, args []Arg, smp *Sample) bool {
	return func(e *Env, args []Arg, smp *Sample) bool {
		ctr, targ := n, 0
		if n < 0 {
			ctr, targ = int(args[0].Int), 1
		}
		if ctr >= maxSC {
			return false
		}
		ent := e.S.StickCtr(ctr)
		if ent == nil {
			return false
		}
		if len(args) > targ && args[targ].Str != "" {
			t := e.S.StickTable(args[targ].Str)
			if t == nil {
				return false
			}
			return op(e, nil, t, ent.Key(), smp)
		}
		return op(e, ent, nil, sticktable.Key{}, smp)
	}
}

// srcFetch is a src_ fetch: the client's address in the table. create:
// the fetch writes (src_inc_gpc0, src_clr_gpc0), so it creates the entry
// and holds it while it does.
func srcFetch(op stickOp, create bool) func(e *Env, args []Arg, smp *Sample) bool {
	return func(e *Env, args []Arg, smp *Sample) bool {
		name := ""
		if len(args) > 0 {
			name = args[0].Str
		}
		t := e.S.StickTable(name)
		if t == nil {
			return false
		}
		k, ok := t.KeyAddr(e.S.Src().Addr())
		if !ok {
			return false
		}
		if create {
			ent := t.Acquire(k)
			if ent == nil {
				return false
			}
			defer t.Release(ent)
			return op(e, ent, t, k, smp)
		}
		return op(e, nil, t, k, smp)
	}
}

// stickTableArg maps each stick-counter fetch to the position of its
// table argument (-1: none); filled by stickFetches.
var stickTableArg = map[string]int{}

// isStickFetch: one of the spellings stickFetches makes.
func isStickFetch(name string) bool {
	_, ok := stickTableArg[name]
	return ok
}

// resolveStickArgs checks the table argument of a stick-counter fetch
// (HAProxy: "unable to find table 'x' referenced in arg 1 of ACL keyword
// 'src_conn_rate' in proxy 'fe'.") and fills in the default table of a
// src_* fetch: the proxy's own.
func resolveStickArgs(c *Config, proxy string, x *SampleExpr) error {
	if x == nil {
		return nil
	}
	name := x.Fetch.name
	pos, ok := stickTableArg[name]
	if !ok || pos < 0 {
		return nil
	}
	if pos >= len(x.Args) {
		if !strings.HasPrefix(name, "src_") {
			return nil // sc*: the tracked entry's own table
		}
		x.Args = append(x.Args, Arg{Str: proxy})
	}
	t := x.Args[pos].Str
	if t == "" {
		t = proxy
		x.Args[pos].Str = proxy
	}
	if c.Table(t) == nil {
		return fmt.Errorf("unable to find table '%s' referenced in arg %d of ACL keyword '%s' in proxy '%s'.%s", t, pos+1, name, proxy, peersHint(t))
	}
	return nil
}
