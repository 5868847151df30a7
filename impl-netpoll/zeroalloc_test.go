//go:build !race

package netpollengine

import (
	"testing"

	"github.com/netmodels/netmodels/core/msgr/msgrtest"
	"github.com/netmodels/netmodels/core/proxy/proxytest"
)

// netpollTaskAllocs: netpoll allocates the closure of a processing task
// for every readable event (connection.onProcess, connection_onevent.go
// in v0.7.2), inside the library; a request/response message is one
// readable event. Everything of ours allocates nothing (runner.go
// replaced the other per-event allocation, gopool's goroutine closure).
const netpollTaskAllocs = 1

// TestZeroAlloc checks that the msgr echo fast path and the proxy relay
// allocate nothing per message in steady state on this engine beyond
// netpoll's own task closure (issue 17). Not under -race, whose runtime
// allocates by itself; the Makefile's unit target runs it in a plain
// build too.
func TestZeroAlloc(t *testing.T) {
	t.Run("MsgrEcho", func(t *testing.T) { msgrtest.CheckAllocs(t, New, netpollTaskAllocs) })
	t.Run("ProxyRelay", func(t *testing.T) { proxytest.CheckAllocs(t, New, netpollTaskAllocs) })
}
