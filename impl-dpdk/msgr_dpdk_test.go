//go:build dpdk

package dpdkengine

import (
	"context"
	"net"
	"testing"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/msgr/msgrtest"
)

// TestCephMon runs the messenger on the DPDK stack against a real ceph-mon
// on the kernel side of the tap (hostAddr), in both roles, as on every
// kernel engine.
func TestCephMon(t *testing.T) {
	msgrtest.MonHost, msgrtest.OurHost = hostAddr, stackAddr
	msgrtest.OurFreePort = stackFreePort
	msgrtest.RunCephMon(t, New)
}

// stackFreePort returns a port free on the process's DPDK stack (the
// kernel's free ports say nothing about it: earlier tests' connections
// hold ports there).
func stackFreePort(t *testing.T) int {
	e, err := New(engine.Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Shutdown(context.Background()) }()
	ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return engine.BaseHandler{} })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// BenchmarkMsgr: ECHO round trip and pipelined rate over the DPDK stack
// (both ends on it, every byte crossing the tap twice).
func BenchmarkMsgr(b *testing.B) { msgrtest.BenchMsgr(b, New) }
