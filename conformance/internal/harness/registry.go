package harness

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Kind groups cases in the matrix.
type Kind string

const (
	KindMsgr    Kind = "msgr"
	KindProxy   Kind = "proxy"
	KindInterop Kind = "interop"
)

// Case is one conformance check, run once per engine.
type Case struct {
	ID   string // stable, e.g. "msgr-banner-bad"
	Kind Kind
	Spec string // the spec section it checks, e.g. "msgr-v1-wire §3"
	Desc string // one line: what behaviour passes
	// Heavy cases (many connections, large transfers) run one at a time.
	Heavy bool
	// Exclusive cases run with no other case at all: their assertions
	// compare latencies under their own load with latencies unloaded
	// (the idle floods), which another case's load would make a judgment
	// of the machine rather than of the engine.
	Exclusive bool
	Run       func(t *T, e Engine)
	// V2 says whether and how the case runs over msgr2 (v2.go): the v2
	// column group of the matrix. Set on a msgr or interop case; a
	// variant (Protocol "v2") is derived from it by V2Variants.
	V2 V2Plan
	// Protocol is "v2" on a case's msgr2 variant (ID "<base>@v2", Base
	// the msgr1 case's ID); empty on every other case.
	Protocol string
	Base     string
}

// Status of one cell.
type Status string

const (
	Pass        Status = "pass"
	Fail        Status = "fail"
	Unsupported Status = "unsupported"
	// Differs is a reference (haproxy) cell declared in unsupported.go to
	// behave otherwise than the case asserts, and observed to do so.
	Differs Status = "differs"
)

// CellResult is one engine × case outcome.
type CellResult struct {
	Status  Status  `json:"status"`
	Reason  string  `json:"reason,omitempty"`
	Seconds float64 `json:"seconds"`
}

// T wraps testing.T so the first failure message becomes the matrix reason.
type T struct {
	*testing.T
	mu    sync.Mutex
	first string
	// differ is set when the reference runs a case declared to behave
	// otherwise (unsupported.go): the case's failures are then what the
	// cell observes, logged instead of failing the test, and a fatal one
	// ends the case as skipped.
	differ bool
	// proto is the wire the case's messenger processes speak: "" (msgr1)
	// or "v2" in a case's msgr2 variant.
	proto string
	// lossless: the variant's plan is V2Lossless (it keeps the case's
	// lossless policies); otherwise a v2 variant runs lossy policies.
	lossless bool
	// unavailable is the reason this run cannot provide what the case
	// needs (Unavailable); the cell is then unsupported, not failed.
	unavailable string
}

// Unavailable ends the case as an unsupported cell with reason: for a
// prerequisite this run lacks and the case cannot do without (the network
// cases' namespaces need root), decided before anything is checked. It is
// never for a case that started checking and failed; an engine's own
// limits go in unsupported.go.
func (t *T) Unavailable(reason string) {
	t.T.Helper()
	t.mu.Lock()
	t.unavailable = reason
	t.mu.Unlock()
	t.T.Skipf("unavailable in this run: %s", reason)
}

// V2 reports whether the case runs as its msgr2 variant: its servers get
// --protocol v2 and its clients dial their v2:IP:PORT/NONCE addresses.
func (t *T) V2() bool { return t.proto == "v2" }

// V2Lossy reports whether the case runs as a lossy msgr2 variant (plan
// V2Runs): its servers take --policy stateless_server and its clients
// --policy lossy_client, the policies v2 serves.
func (t *T) V2Lossy() bool { return t.V2() && !t.lossless }

func (t *T) note(msg string) {
	t.mu.Lock()
	if t.first == "" {
		t.first = msg
	}
	t.mu.Unlock()
}

// Errorf records and reports a failure.
func (t *T) Errorf(format string, args ...any) {
	t.T.Helper()
	t.note(fmt.Sprintf(format, args...))
	if t.differ {
		t.T.Logf("as declared, the reference differs: "+format, args...)
		return
	}
	t.T.Errorf(format, args...)
}

// Fatalf records, reports and stops the case.
func (t *T) Fatalf(format string, args ...any) {
	t.T.Helper()
	t.note(fmt.Sprintf(format, args...))
	if t.differ {
		t.T.Skipf("as declared, the reference differs: "+format, args...)
	}
	t.T.Fatalf(format, args...)
}

// Fatal is Fatalf with Sprint.
func (t *T) Fatal(args ...any) {
	t.T.Helper()
	t.Fatalf("%s", fmt.Sprint(args...))
}

// Error is Errorf with Sprint.
func (t *T) Error(args ...any) {
	t.T.Helper()
	t.Errorf("%s", fmt.Sprint(args...))
}

// Reason returns the first failure message.
func (t *T) Reason() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.first
}

// Results collects cells and interop cells from parallel cases.
type Results struct {
	mu sync.Mutex
	// excl: every case holds it for reading, an Exclusive case for
	// writing. A waiting writer holds back new readers (sync.RWMutex),
	// so an exclusive case waits only for the cases already running.
	excl    sync.RWMutex
	Engines []string
	// Reference names the reference column of the proxy cases (haproxy),
	// or is empty; its cells are in Cells like an engine's.
	Reference string
	Cases     []Case
	Cells     map[string]map[string]CellResult // engine → case ID
	Interop   []InteropCell
}

// InteropCell is one client × server (or peer) pairing.
type InteropCell struct {
	Table  string `json:"table"` // "msgr client × server", ...
	Row    string `json:"row"`
	Col    string `json:"col"`
	CaseID string `json:"case"`
	CellResult
}

// NewResults prepares an empty result set.
func NewResults(engines []Engine, cases []Case) *Results {
	r := &Results{Cells: map[string]map[string]CellResult{}, Cases: cases}
	for _, e := range engines {
		r.Engines = append(r.Engines, e.Name)
		r.Cells[e.Name] = map[string]CellResult{}
	}
	return r
}

// SetReference adds the reference column (run on proxy cases only).
func (r *Results) SetReference(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Reference = name
	if r.Cells[name] == nil {
		r.Cells[name] = map[string]CellResult{}
	}
}

// Set records one engine × case cell.
func (r *Results) Set(engine, caseID string, c CellResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Cells[engine] == nil {
		r.Cells[engine] = map[string]CellResult{}
	}
	r.Cells[engine][caseID] = c
}

// SetInterop records an interop cell.
func (r *Results) SetInterop(c InteropCell) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Interop = append(r.Interop, c)
}

// RunCase runs c for engine e as a parallel subtest of t, honouring the
// unsupported table, and records the cell. The heavy semaphore serialises
// heavy cases.
func (r *Results) RunCase(t *testing.T, c Case, e Engine, heavy chan struct{}) {
	t.Run(e.Name+"/"+c.ID, func(tt *testing.T) {
		reason, ok := UnsupportedReason(e.Name, c.ID)
		if !ok && c.Base != "" {
			// What an engine cannot do over msgr1 it cannot do over v2.
			reason, ok = UnsupportedReason(e.Name, c.Base)
		}
		if ok {
			r.Set(e.Name, c.ID, CellResult{Status: Unsupported, Reason: reason})
			tt.Skipf("unsupported by %s: %s", e.Name, reason)
		}
		tt.Parallel()
		if c.Heavy {
			heavy <- struct{}{}
			defer func() { <-heavy }()
		}
		if c.Exclusive {
			r.excl.Lock()
			defer r.excl.Unlock()
		} else {
			r.excl.RLock()
			defer r.excl.RUnlock()
		}
		w := &T{T: tt, proto: c.Protocol, lossless: c.V2.Mode == V2Lossless}
		d, differ := differs(e.Name, c.ID)
		w.differ = differ
		start := time.Now()
		tt.Cleanup(func() {
			if differ {
				r.recordDiffer(e.Name, c.ID, w, d, start)
				return
			}
			r.record(e.Name, c.ID, w, start)
		})
		c.Run(w, e)
	})
}

// recordDiffer judges a reference cell declared to differ from the case:
// it must have failed the case with the declared observation. Meeting every
// assertion, or failing some other way, is a failure of the cell (the
// declaration is stale, or something else broke).
func (r *Results) recordDiffer(engine, id string, w *T, d Difference, start time.Time) {
	cell := CellResult{Status: Differs, Seconds: time.Since(start).Seconds()}
	got := w.Reason()
	switch {
	case w.Failed():
		// A failure that bypassed T (testing.T's own FailNow): not judged.
		cell.Status, cell.Reason = Fail, "failed (see test log)"
	case got == "":
		cell.Status = Fail
		cell.Reason = "declared to differ (" + d.Reason + ") but met every assertion of the case: remove the declaration"
	case !strings.Contains(got, d.Observed):
		cell.Status = Fail
		cell.Reason = fmt.Sprintf("declared to differ with %q, but failed otherwise: %s", d.Observed, got)
	default:
		cell.Reason = d.Reason + " Observed: " + got
	}
	if cell.Status == Fail {
		w.T.Errorf("%s", cell.Reason)
	}
	r.Set(engine, id, cell)
}

func (r *Results) record(engine, id string, w *T, start time.Time) {
	cell := CellResult{Status: Pass, Seconds: time.Since(start).Seconds()}
	if w.Failed() {
		cell.Status = Fail
		cell.Reason = w.Reason()
		if cell.Reason == "" {
			cell.Reason = "failed (see test log)"
		}
	} else if w.Skipped() {
		// A case may only skip through the unsupported table or
		// Unavailable (with its reason); any other skip is a failure to
		// check, reported as such.
		w.mu.Lock()
		why := w.unavailable
		w.mu.Unlock()
		cell.Status = Fail
		cell.Reason = "case skipped itself instead of checking"
		if why != "" {
			cell.Status, cell.Reason = Unsupported, why
		}
	}
	r.Set(engine, id, cell)
}

// Counts returns pass/fail/unsupported totals for an engine.
// Differs cells count as unsupported: the case's assertion is not met,
// as declared.
func (r *Results) Counts(engine string) (pass, fail, unsup int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.Cells[engine] {
		switch c.Status {
		case Pass:
			pass++
		case Fail:
			fail++
		case Unsupported, Differs:
			unsup++
		}
	}
	return
}

// SortedCases returns cases ordered by kind then ID.
func SortedCases(cs []Case) []Case {
	out := append([]Case(nil), cs...)
	order := map[Kind]int{KindMsgr: 0, KindProxy: 1, KindInterop: 2}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return order[out[i].Kind] < order[out[j].Kind]
		}
		return false
	})
	return out
}
