package sticktable

import (
	"fmt"
	"strings"
	"time"
)

// Data is a kind of value a table stores per entry (HAProxy's "store"
// list). The order is HAProxy's (stktable_data_types), which is also the
// column order of "show table".
type Data uint8

// Stored data types. The http_* counters are accepted, as HAProxy accepts
// them in tcp mode, and stay 0: no HTTP request ever passes here.
const (
	ServerID Data = iota
	GPT0
	GPC0
	GPC0Rate
	ConnCnt
	ConnRate
	ConnCur
	SessCnt
	SessRate
	HTTPReqCnt
	HTTPReqRate
	HTTPErrCnt
	HTTPErrRate
	BytesInCnt
	BytesInRate
	BytesOutCnt
	BytesOutRate
	GPC1
	GPC1Rate
	// ServerKey is the name (or address) of the server a persistence
	// rule stored, beside its id; HAProxy adds both to a table "stick"
	// rules use, and matches by name first.
	ServerKey
	HTTPFailCnt
	HTTPFailRate
	numData
)

var dataNames = [numData]string{
	ServerID: "server_id", GPT0: "gpt0", GPC0: "gpc0", GPC0Rate: "gpc0_rate",
	ConnCnt: "conn_cnt", ConnRate: "conn_rate", ConnCur: "conn_cur",
	SessCnt: "sess_cnt", SessRate: "sess_rate",
	HTTPReqCnt: "http_req_cnt", HTTPReqRate: "http_req_rate",
	HTTPErrCnt: "http_err_cnt", HTTPErrRate: "http_err_rate",
	BytesInCnt: "bytes_in_cnt", BytesInRate: "bytes_in_rate",
	BytesOutCnt: "bytes_out_cnt", BytesOutRate: "bytes_out_rate",
	GPC1: "gpc1", GPC1Rate: "gpc1_rate", ServerKey: "server_key",
	HTTPFailCnt: "http_fail_cnt", HTTPFailRate: "http_fail_rate",
}

func (d Data) String() string {
	if d < numData {
		return dataNames[d]
	}
	return fmt.Sprintf("data(%d)", uint8(d))
}

// IsRate: a frequency counter, configured with a period ("conn_rate(10s)").
func (d Data) IsRate() bool {
	switch d {
	case GPC0Rate, ConnRate, SessRate, HTTPReqRate, HTTPErrRate, BytesInRate, BytesOutRate, GPC1Rate, HTTPFailRate:
		return true
	}
	return false
}

// LookupData finds a store name. HAProxy's array types (gpc, gpt,
// gpc_rate) and server_key are known (ok false, known true) but not
// supported here.
func LookupData(name string) (d Data, ok, known bool) {
	for i, n := range dataNames {
		if n == name {
			return Data(i), true, true
		}
	}
	switch name {
	case "gpc", "gpt", "gpc_rate", "server_name":
		return 0, false, true
	}
	return 0, false, false
}

// MaxPeriod is the longest rate period: HAProxy's timers are 32-bit
// milliseconds (2147483647 ms, about 24.8 days).
const MaxPeriod = 2147483647 * time.Millisecond

// Stores is the set of data a table keeps, with each rate's period.
type Stores struct {
	has    uint32 // bit per Data
	period [numData]uint32
}

// Has reports whether d is stored.
func (s *Stores) Has(d Data) bool { return d < numData && s.has&(1<<d) != 0 }

// Period is a rate's period (0 if d is not a stored rate).
func (s *Stores) Period(d Data) time.Duration {
	if !s.Has(d) {
		return 0
	}
	return time.Duration(s.period[d]) * time.Millisecond
}

// Add stores d; period is required for rates and refused otherwise.
// added is false when d was already stored (HAProxy warns and ignores).
func (s *Stores) Add(d Data, period time.Duration) (added bool, err error) {
	if d >= numData {
		return false, fmt.Errorf("unknown store option %d", d)
	}
	if d.IsRate() {
		if period <= 0 || period > MaxPeriod {
			return false, fmt.Errorf("store option '%s': period must be from 1ms to 2147483647ms", d)
		}
	} else if period != 0 {
		return false, fmt.Errorf("unexpected argument to store option '%s'", d)
	}
	if s.Has(d) {
		return false, nil
	}
	s.has |= 1 << d
	s.period[d] = uint32(period / time.Millisecond)
	return true, nil
}

// String lists the stores as a "store" argument would.
func (s *Stores) String() string {
	var parts []string
	for d := Data(0); d < numData; d++ {
		if !s.Has(d) {
			continue
		}
		if d.IsRate() {
			parts = append(parts, fmt.Sprintf("%s(%dms)", d, s.period[d]))
		} else {
			parts = append(parts, d.String())
		}
	}
	return strings.Join(parts, ",")
}
