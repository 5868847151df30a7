package gnetengine

import (
	"testing"

	"github.com/netmodels/netmodels/core/engine/enginetest"
	"github.com/netmodels/netmodels/core/proxy/proxytest"
)

// ProxyUnsupported lists the proxy kit cases gnet cannot pass: each sends
// and then shuts its write side while expecting the reply to keep flowing,
// which needs the read-side half-close gnet does not have.
var ProxyUnsupported = enginetest.Unsupported{
	"RelayIntegrity/copy":   noHalfClose,
	"RelayIntegrity/splice": noHalfClose,
	"HalfClose":             noHalfClose,
	"ServerFirst":           noHalfClose,
	"ManySessions":          noHalfClose + " (each session sends, shuts its write side, then reads the echo)",
	"SlowReader":            noHalfClose + " (the fast session sends, shuts its write side, then reads the echo)",
	// TLS relay: each end sends close_notify and keeps reading; the
	// in-test backend closes its socket once both directions are done.
	// gnet closes the proxy's server connection on that FIN at once, so
	// the response bytes the session still holds for a paused client are
	// lost (about 1 run in 6 at 32 MiB; every session ends "SD").
	"TLS/Relay/ECDSA-P256": noHalfClose + " (the backend's FIN after close_notify drops response bytes still held for the client)",
	"TLS/Relay/RSA-2048":   noHalfClose + " (the backend's FIN after close_notify drops response bytes still held for the client)",
}

// TestProxy runs the proxy kit (real sockets, real haproxy) on this engine.
func TestProxy(t *testing.T) { proxytest.RunWith(t, New, ProxyUnsupported) }

// BenchmarkProxy measures relay throughput and added latency vs direct.
func BenchmarkProxy(b *testing.B) { proxytest.Bench(b, New) }
