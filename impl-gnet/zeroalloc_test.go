//go:build !race

package gnetengine

import (
	"testing"

	"github.com/netmodels/netmodels/core/msgr/msgrtest"
	"github.com/netmodels/netmodels/core/proxy/proxytest"
)

// TestZeroAlloc checks that the msgr echo fast path and the proxy relay
// allocate nothing per message in steady state on this engine (issue 17).
// Not under -race, whose runtime allocates by itself; the Makefile's unit
// target runs it in a plain build too.
func TestZeroAlloc(t *testing.T) {
	t.Run("MsgrEcho", func(t *testing.T) { msgrtest.CheckAllocs(t, New, 0) })
	t.Run("ProxyRelay", func(t *testing.T) { proxytest.CheckAllocs(t, New, 0) })
}
