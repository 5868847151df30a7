// Package enginetest is the conformance kit every engine runs (the
// x/net/nettest TestConn idea, for the engine contract): the same cases, the
// same assertions, under -race. An engine module needs two lines:
//
//	func TestEngine(t *testing.T) { enginetest.Run(t, enginetest.FromNew(New)) }
//	func BenchmarkEngine(b *testing.B) { enginetest.Bench(b, enginetest.BenchFromNew(New)) }
//
// (Run and Bench take any Factory, for an engine that needs more than its
// New.) CheckConnectCloseNoLeak (leak.go) is the kit's fd and goroutine
// leak check over many connect/close cycles, which every real-socket
// engine runs as its own test.
//
// Every case uses only the engine contract: both ends of each connection go
// through the engine under test (Listen on 127.0.0.1:0 and Dial to the
// listener's address), so the kit runs on real sockets and on the in-memory
// engine alike. Cases wait on channels with a generous timeout that fails
// the test; the real clock is used, never a sleep as synchronisation. Every
// handler the kit installs checks, on every callback, that callbacks of one
// connection (and of connections Near it) never overlap, that OnOpen comes
// at most once and first, and that OnClose comes exactly once and last.
//
// Each case names the section of spec/engine.md it checks.
package enginetest

import (
	"os"
	"testing"

	"github.com/netmodels/netmodels/core/engine"
)

// Factory builds a fresh engine for one case. The kit shuts it down in
// t.Cleanup and fails the case if Shutdown does not return nil in time.
type Factory func(t *testing.T, cfg engine.Config) engine.Engine

// Constructor is an engine module's New.
type Constructor func(engine.Config) (engine.Engine, error)

// FromNew is the Factory of an engine whose New needs nothing more: it
// fails the case when New does.
func FromNew(newEngine Constructor) Factory {
	return func(t *testing.T, cfg engine.Config) engine.Engine { return newOrFail(t, newEngine, cfg) }
}

func newOrFail(tb testing.TB, newEngine Constructor, cfg engine.Config) engine.Engine {
	tb.Helper()
	e, err := newEngine(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return e
}

type kase struct {
	name string
	run  func(k *kit)
}

// cases is the whole kit, in the order of spec/engine.md.
var cases = []kase{
	{"Echo", testEcho},
	{"PartialReads", testPartialReads},
	{"PartialConsumption", testPartialConsumption},
	{"SingleByteWrites", testSingleByteWrites},
	{"WritevManySlices", testWritevManySlices},
	{"ReadBufferFull", testReadBufferFull},
	{"ConsumedOutOfRange", testConsumedOutOfRange},
	{"MessageOfBufferSize", testMessageOfBufferSize},
	{"Bulk64MiBBothWays", testBulkBothWays},
	{"HalfCloseClientFirst", testHalfCloseClientFirst},
	{"HalfCloseServerFirst", testHalfCloseServerFirst},
	{"PauseRead", testPauseRead},
	{"PauseHoldsEOF", testPauseHoldsEOF},
	{"EOFAfterPartial", testEOFAfterPartial},
	{"OutQueueLimit", testOutQueueLimit},
	{"ExecuteConcurrent", testExecuteConcurrent},
	{"ExecuteFromCallback", testExecuteFromCallback},
	{"TimerOrder", testTimerOrder},
	{"TimerStop", testTimerStop},
	{"ThousandConns", testThousandConns},
	{"CloseWhileWriting", testCloseWhileWriting},
	{"CloseOnceAndLast", testCloseOnceAndLast},
	{"DialRefused", testDialRefused},
	{"PauseAccept", testPauseAccept},
	{"AcceptBudget", testAcceptBudget},
	{"DialQueuesWrites", testDialQueuesWrites},
	{"Shutdown", testShutdown},
	{"NearAffinity", testNearAffinity},
	{"Splice", testSplice},
	{"Abort", testAbort},
}

// Run runs every case as a subtest, each with its own engine(s).
func Run(t *testing.T, newEngine Factory) {
	RunWith(t, newEngine, nil)
}

// Unsupported names kit cases an engine cannot pass because its I/O library
// lacks the feature, each with the reason (which spec/engine.md repeats).
type Unsupported map[string]string

// Case is one named case of a conformance kit (this one, proxytest).
type Case struct {
	Name string
	Run  func(t *testing.T)
}

// RunCases runs cases as subtests under the convention RunWith describes:
// a case named in unsupported is skipped with "UNSUPPORTED: reason" (run
// anyway with ENGINETEST_UNSUPPORTED=1), and a declared name that is no
// case fails the run. kitName prefixes that error.
func RunCases(t *testing.T, kitName string, cases []Case, unsupported Unsupported) {
	known := make(map[string]bool, len(cases))
	for _, c := range cases {
		known[c.Name] = true
	}
	for name := range unsupported {
		if !known[name] {
			t.Errorf("%s: declared unsupported case %q does not exist", kitName, name)
		}
	}
	runAnyway := os.Getenv("ENGINETEST_UNSUPPORTED") == "1"
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			if reason, ok := unsupported[c.Name]; ok && !runAnyway {
				t.Skipf("UNSUPPORTED: %s", reason)
			}
			c.Run(t)
		})
	}
}

// RunWith is Run for an engine with declared limitations. A declared case is
// reported as skipped with "UNSUPPORTED: reason", never as passed; set
// ENGINETEST_UNSUPPORTED=1 to run it anyway and watch it fail. A declared
// name that is not a kit case fails the run, so the list cannot go stale
// silently.
func RunWith(t *testing.T, newEngine Factory, unsupported Unsupported) {
	all := make([]Case, len(cases))
	for i, c := range cases {
		all[i] = Case{Name: c.name, Run: func(t *testing.T) { c.run(&kit{t: t, newEngine: newEngine}) }}
	}
	RunCases(t, "enginetest", all, unsupported)
}
