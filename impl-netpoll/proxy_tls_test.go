package netpollengine

import (
	"testing"

	"github.com/netmodels/netmodels/core/proxy/proxytest"
)

// TestProxyTLS runs the proxy kit's TLS cases (bind ssl → server ssl over
// real sockets, and the failures that must close only their session).
func TestProxyTLS(t *testing.T) { proxytest.RunTLS(t, New, nil) }
