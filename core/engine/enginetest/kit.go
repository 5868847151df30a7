// Package enginetest is the conformance kit every engine runs (the
// x/net/nettest TestConn idea, for the engine contract): the same cases, the
// same assertions, under -race. An engine module needs two lines:
//
//	func TestEngine(t *testing.T) { enginetest.Run(t, newEngine) }
//	func BenchmarkEngine(b *testing.B) { enginetest.Bench(b, newEngineTB) }
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
	"testing"

	"github.com/netmodels/netmodels/core/engine"
)

// Factory builds a fresh engine for one case. The kit shuts it down in
// t.Cleanup and fails the case if Shutdown does not return nil in time.
type Factory func(t *testing.T, cfg engine.Config) engine.Engine

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
	{"MessageOfBufferSize", testMessageOfBufferSize},
	{"Bulk64MiBBothWays", testBulkBothWays},
	{"HalfCloseClientFirst", testHalfCloseClientFirst},
	{"HalfCloseServerFirst", testHalfCloseServerFirst},
	{"PauseRead", testPauseRead},
	{"PauseHoldsEOF", testPauseHoldsEOF},
	{"OutQueueLimit", testOutQueueLimit},
	{"ExecuteConcurrent", testExecuteConcurrent},
	{"ExecuteFromCallback", testExecuteFromCallback},
	{"TimerOrder", testTimerOrder},
	{"TimerStop", testTimerStop},
	{"ThousandConns", testThousandConns},
	{"CloseWhileWriting", testCloseWhileWriting},
	{"CloseOnceAndLast", testCloseOnceAndLast},
	{"DialRefused", testDialRefused},
	{"DialQueuesWrites", testDialQueuesWrites},
	{"Shutdown", testShutdown},
	{"NearAffinity", testNearAffinity},
	{"Splice", testSplice},
}

// Run runs every case as a subtest, each with its own engine(s).
func Run(t *testing.T, newEngine Factory) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(&kit{t: t, newEngine: newEngine})
		})
	}
}
