package tlsconn

import (
	"crypto/tls"
	"fmt"
	"testing"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/engine/tlsconn/tlstest"
)

// benchRig is a real-clock memengine with a TLS listener (no sockets: the
// figures are the TLS layer's cost, crypto included).
func benchRig(b *testing.B, alg tlstest.Alg, newServer func() engine.Handler) (engine.Engine, string, *tls.Config) {
	b.Helper()
	e := memengine.New(memengine.Options{})
	b.Cleanup(func() { _ = e.Shutdown(b.Context()) })
	ca := tlstest.MustCA(b, alg, "bench CA")
	leaf := ca.MustIssue(b, alg, "server.test")
	srv := &tls.Config{Certificates: []tls.Certificate{leaf.Cert}}
	l, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler {
		return Server(newServer(), srv, Options{})
	})
	if err != nil {
		b.Fatal(err)
	}
	return e, l.Addr().String(), &tls.Config{RootCAs: ca.Pool, ServerName: "server.test"}
}

// sink counts plaintext and signals at EOF.
type sink struct {
	engine.BaseHandler
	n    int64
	done chan struct{}
}

func (s *sink) OnData(_ engine.Conn, in []byte) int { s.n += int64(len(in)); return len(in) }
func (s *sink) OnReadEOF(c engine.Conn)             { close(s.done); _ = c.Close() }

// streamer writes total bytes in 16 KiB writes, then close_notify.
type streamer struct {
	engine.BaseHandler
	chunk []byte
	left  int64
	fail  chan error
}

func (s *streamer) push(c engine.Conn) {
	for s.left > 0 && c.OutQueued() < 1<<20 {
		n := min(int64(len(s.chunk)), s.left)
		if err := c.Write(s.chunk[:n]); err != nil {
			return
		}
		s.left -= n
	}
	if s.left == 0 {
		_ = c.CloseWrite()
		s.left = -1
	}
}
func (s *streamer) OnOpen(c engine.Conn)    { s.push(c) }
func (s *streamer) OnDrained(c engine.Conn) { s.push(c) }
func (s *streamer) OnReadEOF(engine.Conn)   {}
func (s *streamer) OnClose(_ engine.Conn, err error) {
	if err != nil {
		s.fail <- err
	}
}

// BenchmarkBulk: one TLS stream, client to server, through the layer on
// both ends; MB/s is plaintext bytes per second.
func BenchmarkBulk(b *testing.B) {
	for _, alg := range []tlstest.Alg{tlstest.ECDSAP256} {
		b.Run(alg.String(), func(b *testing.B) {
			srv := &sink{done: make(chan struct{})}
			e, addr, cli := benchRig(b, alg, func() engine.Handler { return srv })
			const chunk = 16 << 10
			b.SetBytes(chunk)
			st := &streamer{chunk: make([]byte, chunk), left: int64(b.N) * chunk, fail: make(chan error, 1)}
			b.ResetTimer()
			if _, err := e.Dial(addr, Client(st, cli, Options{}), engine.DialOptions{}); err != nil {
				b.Fatal(err)
			}
			select {
			case <-srv.done:
			case err := <-st.fail:
				b.Fatal(err)
			}
			if srv.n != int64(b.N)*chunk {
				b.Fatalf("got %d bytes, want %d", srv.n, int64(b.N)*chunk)
			}
		})
	}
}

// opener reports the handshake's end.
type opener struct {
	engine.BaseHandler
	done chan error
}

func (o *opener) OnOpen(c engine.Conn) { _ = c.Close() }
func (o *opener) OnClose(_ engine.Conn, err error) {
	o.done <- err
}

// BenchmarkHandshake: full handshakes (no resumption), both ends through
// the layer, 8 in flight; one op is one handshake, client and server.
func BenchmarkHandshake(b *testing.B) {
	for _, alg := range []tlstest.Alg{tlstest.ECDSAP256, tlstest.RSA2048} {
		for _, vers := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			b.Run(fmt.Sprintf("%v/%x", alg, vers), func(b *testing.B) {
				e, addr, cli := benchRig(b, alg, func() engine.Handler { return &engine.BaseHandler{} })
				cli.MaxVersion = vers
				cli.ClientSessionCache = nil
				done := make(chan error, 64)
				inflight := 0
				start := func() {
					if _, err := e.Dial(addr, Client(&opener{done: done}, cli, Options{}), engine.DialOptions{}); err != nil {
						b.Fatal(err)
					}
					inflight++
				}
				b.ResetTimer()
				started := 0
				for ; started < min(8, b.N); started++ {
					start()
				}
				for finished := 0; finished < b.N; finished++ {
					if err := <-done; err != nil {
						b.Fatalf("handshake: %v", err)
					}
					if started < b.N {
						start()
						started++
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
			})
		}
	}
}
