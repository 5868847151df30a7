package goroutine

import (
	"net"
	"testing"

	"github.com/netmodels/netmodels/core/engine/enginetest"
)

// TestConnectCloseNoLeak runs 10,000 connect/close cycles and checks that
// open fds and goroutines return to where they were once the engine has
// shut down (enginetest.CheckConnectCloseNoLeak).
func TestConnectCloseNoLeak(t *testing.T) {
	enginetest.CheckConnectCloseNoLeak(t, New, 10000, enginetest.LeakOptions{
		Parallel: 8,
		WarmUp: func(t *testing.T) {
			// Create the runtime's netpoll fd before counting.
			if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
				_ = ln.Close()
			}
		},
	})
}
