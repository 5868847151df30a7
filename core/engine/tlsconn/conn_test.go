package tlsconn

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/engine/tlsconn/tlstest"
)

// rig is a fake-clock memengine with a TLS listener whose connections run
// a handler made by newServer.
type rig struct {
	t    *testing.T
	clk  *memengine.FakeClock
	e    *memengine.Engine
	lim  *Limiter // the listener's handshakes
	clim *Limiter // the dialers'
	addr string
	ca   *tlstest.CA
	srv  *tls.Config
	cli  *tls.Config
	opts Options
	// servers are the listener's connections in accept order (loop-owned;
	// with a FakeClock the loop runs only inside Settle, so the test reads
	// them between Settles).
	servers []*Conn
}

func newRig(t *testing.T, alg tlstest.Alg, mopts memengine.Options, newServer func() engine.Handler) *rig {
	t.Helper()
	r := &rig{t: t, clk: memengine.NewFakeClock(time.Time{}), lim: NewLimiter(8), clim: NewLimiter(8)}
	mopts.Clock = r.clk
	r.e = memengine.New(mopts)
	t.Cleanup(func() { _ = r.e.Shutdown(t.Context()); r.lim.WaitIdle(); r.clim.WaitIdle() })
	r.ca = tlstest.MustCA(t, alg, "test CA")
	leaf := r.ca.MustIssue(t, alg, "server.test", "127.0.0.1")
	r.srv = &tls.Config{Certificates: []tls.Certificate{leaf.Cert}}
	r.cli = &tls.Config{RootCAs: r.ca.Pool, ServerName: "server.test"}
	r.opts = Options{Limiter: r.lim, HandshakeTimeout: 5 * time.Second}
	l, err := r.e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler {
		h := Server(newServer(), r.srv, r.opts).(*rawHandler)
		r.servers = append(r.servers, h.c)
		return h
	})
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	return r
}

// settle runs the engine and the handshake goroutines until cond holds.
func (r *rig) settle(cond func() bool) {
	r.t.Helper()
	for range 100000 {
		r.e.Settle()
		r.lim.waitIdleDebug()
		r.clim.waitIdleDebug()
		if cond() {
			return
		}
		// Goroutines may have queued work on the engine since Settle.
		r.e.Settle()
		if cond() {
			return
		}
	}
	r.t.Fatal("condition not reached")
}

func (r *rig) dial(h engine.Handler, cfg *tls.Config) engine.Conn {
	r.t.Helper()
	opts := r.opts
	opts.Limiter = r.clim
	c, err := r.e.Dial(r.addr, Client(h, cfg, opts), engine.DialOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

// recorder records what a handler sees.
type recorder struct {
	conn    engine.Conn
	opened  bool
	data    bytes.Buffer
	eof     bool
	closed  bool
	err     error
	onOpen  func(c engine.Conn)
	onData  func(c engine.Conn, in []byte) int
	onEOF   func(c engine.Conn)
	drained int
}

func (h *recorder) OnOpen(c engine.Conn) {
	h.conn, h.opened = c, true
	if h.onOpen != nil {
		h.onOpen(c)
	}
}

func (h *recorder) OnData(c engine.Conn, in []byte) int {
	if h.onData != nil {
		return h.onData(c, in)
	}
	h.data.Write(in)
	return len(in)
}

func (h *recorder) OnReadEOF(c engine.Conn) {
	h.eof = true
	if h.onEOF != nil {
		h.onEOF(c)
	}
}

func (h *recorder) OnDrained(engine.Conn) { h.drained++ }

func (h *recorder) OnClose(_ engine.Conn, err error) { h.closed, h.err = true, err }

// echo is a server handler that writes back what it reads and shuts its
// write side after the client's close_notify.
type echo struct {
	engine.BaseHandler
	state *recorder
}

func newEcho() *echo { return &echo{state: &recorder{}} }

func (e *echo) OnOpen(c engine.Conn) { e.state.OnOpen(c) }
func (e *echo) OnData(c engine.Conn, in []byte) int {
	if err := c.Write(in); err != nil {
		if errors.Is(err, engine.ErrOutQueueFull) {
			c.PauseRead()
			return 0
		}
		return len(in)
	}
	if c.OutQueued() > engine.DefaultOutQueueHighWater {
		c.PauseRead() // OnDrained comes once it falls to low water
	}
	return len(in)
}
func (e *echo) OnDrained(c engine.Conn)          { c.ResumeRead() }
func (e *echo) OnReadEOF(c engine.Conn)          { e.state.eof = true; _ = c.CloseWrite() }
func (e *echo) OnClose(c engine.Conn, err error) { e.state.OnClose(c, err) }

// pump writes data in chunks as the out-queue allows.
type pump struct {
	recorder
	out []byte
}

func (p *pump) push(c engine.Conn) {
	// Write until refused (OnDrained is then owed) or past high water
	// (OnDrained comes when the queue falls to low water).
	for len(p.out) > 0 && c.OutQueued() <= engine.DefaultOutQueueHighWater {
		n := min(len(p.out), 16<<10)
		if err := c.Write(p.out[:n]); err != nil {
			return
		}
		p.out = p.out[n:]
	}
	if len(p.out) == 0 {
		_ = c.CloseWrite()
	}
}

func (p *pump) OnOpen(c engine.Conn) { p.recorder.OnOpen(c); p.push(c) }
func (p *pump) OnDrained(c engine.Conn) {
	if len(p.out) > 0 {
		p.push(c)
	}
}

// TestEcho: bytes each way through TLS, SHA-256 equal, for both key types
// and both protocol versions; close_notify ends each direction.
func TestEcho(t *testing.T) {
	for _, alg := range []tlstest.Alg{tlstest.ECDSAP256, tlstest.RSA2048} {
		for _, vers := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(fmt.Sprintf("%v/%x", alg, vers), func(t *testing.T) {
				srv := newEcho()
				r := newRig(t, alg, memengine.Options{}, func() engine.Handler { return srv })
				r.srv.MaxVersion = vers
				data := make([]byte, 3<<20+123)
				for i := range data {
					data[i] = byte(i*7 + i>>9)
				}
				cli := &pump{out: data}
				r.dial(cli, r.cli)
				r.settle(func() bool { return cli.eof || cli.closed })
				if cli.closed || srv.state.closed && srv.state.err != nil {
					t.Fatalf("closed: client %v, server %v", cli.err, srv.state.err)
				}
				if sha256.Sum256(cli.data.Bytes()) != sha256.Sum256(data) {
					t.Fatalf("echo differs: got %d bytes, want %d", cli.data.Len(), len(data))
				}
				st, ok := cli.conn.(*Conn).State()
				if !ok || st.Version != vers || st.ServerName != "server.test" {
					t.Fatalf("state %v %x %q", ok, st.Version, st.ServerName)
				}
				sst, _ := srv.state.conn.(*Conn).State()
				if sst.ServerName != "server.test" {
					t.Fatalf("server sees SNI %q", sst.ServerName)
				}
			})
		}
	}
}

// TestClientHelloByteByByte: a pipe of one byte delivers the ClientHello
// (and everything else) in 1-byte reads.
func TestClientHelloByteByByte(t *testing.T) {
	srv := newEcho()
	r := newRig(t, tlstest.ECDSAP256, memengine.Options{PipeBufferSize: 1}, func() engine.Handler { return srv })
	cli := &pump{out: []byte("hello through one-byte reads")}
	r.dial(cli, r.cli)
	r.settle(func() bool { return cli.eof || cli.closed })
	if got := cli.data.String(); got != "hello through one-byte reads" {
		t.Fatalf("got %q (client err %v, server err %v)", got, cli.err, srv.state.err)
	}
}

// rawClient sends bytes on a plain connection.
type rawClient struct {
	recorder
	send  []byte
	pause bool // stop reading once send is written
}

func (c *rawClient) OnOpen(conn engine.Conn) {
	c.recorder.OnOpen(conn)
	if c.send != nil {
		_ = conn.Write(c.send)
	}
	if c.pause {
		conn.PauseRead()
	}
}

// TestFailuresCloseOnlyThatConnection: garbage instead of a ClientHello, a
// handshake timeout, a client certificate that fails verification and an
// oversized record each close their connection with a reason, while a
// session opened before keeps working.
func TestFailuresCloseOnlyThatConnection(t *testing.T) {
	var peerRec *recorder // the failing client, where it is a TLS client
	cases := []struct {
		name  string
		setup func(r *rig) (closed func() bool, advance time.Duration)
		want  string
		// peer: what the client's OnClose error must say (the alert the
		// server sent before closing), "" to not check.
		peer string
	}{
		{"garbage", func(r *rig) (func() bool, time.Duration) {
			c := &rawClient{send: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")}
			if _, err := r.e.Dial(r.addr, c, engine.DialOptions{}); err != nil {
				r.t.Fatal(err)
			}
			return func() bool { return c.closed || c.eof }, 0
		}, "does not look like a TLS handshake", ""},
		{"handshake-timeout", func(r *rig) (func() bool, time.Duration) {
			c := &rawClient{send: []byte{0x16, 0x03, 0x01}} // a hello that never ends
			if _, err := r.e.Dial(r.addr, c, engine.DialOptions{}); err != nil {
				r.t.Fatal(err)
			}
			return func() bool { return c.closed || c.eof }, 6 * time.Second
		}, "handshake timeout", ""},
		{"client-cert", func(r *rig) (func() bool, time.Duration) {
			other := tlstest.MustCA(r.t, tlstest.ECDSAP256, "other CA")
			leaf := other.MustIssue(r.t, tlstest.ECDSAP256, "client.test")
			cfg := r.cli.Clone()
			cfg.Certificates = []tls.Certificate{leaf.Cert}
			c := &recorder{}
			r.dial(c, cfg)
			peerRec = c
			return func() bool { return c.closed || c.eof }, 0
		}, "certificate", "remote error: tls: certificate required"},
		{"oversized-record", func(r *rig) (func() bool, time.Duration) {
			c := &recorder{}
			c.onOpen = func(conn engine.Conn) {
				// A record header claiming 20000 bytes, then that many.
				rec := append([]byte{23, 3, 3, 20000 >> 8, 20000 & 0xff}, make([]byte, 20000)...)
				_ = conn.(*Conn).Raw().Write(rec)
			}
			r.dial(c, r.cli)
			peerRec = c
			return func() bool { return c.closed || c.eof }, 0
		}, "oversized record", "remote error: tls: record overflow"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			peerRec = nil
			var servers []*recorder
			r := newRig(t, tlstest.ECDSAP256, memengine.Options{}, func() engine.Handler {
				e := newEcho()
				servers = append(servers, e.state)
				return e
			})
			r.srv.ClientAuth = tls.RequireAndVerifyClientCert
			r.srv.ClientCAs = r.ca.Pool
			good := r.ca.MustIssue(t, tlstest.ECDSAP256, "good.client")
			r.cli.Certificates = []tls.Certificate{good.Cert}

			// A healthy session first.
			ok := &recorder{}
			okConn := r.dial(ok, r.cli)
			r.settle(func() bool { return ok.opened || ok.closed })
			if !ok.opened {
				t.Fatalf("good session did not open: %v", ok.err)
			}
			closed, adv := tc.setup(r)
			r.settle(func() bool { return len(servers) == 2 })
			if adv > 0 {
				r.clk.Advance(adv)
			}
			r.settle(func() bool { return servers[1].closed && closed() })
			if servers[1].err == nil || !strings.Contains(servers[1].err.Error(), tc.want) {
				t.Fatalf("server closed with %v, want %q", servers[1].err, tc.want)
			}
			// memengine queues writes until the loop runs, like gnet: an
			// alert written just before the close must still arrive.
			if tc.peer != "" && (peerRec.err == nil || !strings.Contains(peerRec.err.Error(), tc.peer)) {
				t.Fatalf("client closed with %v, want the alert %q", peerRec.err, tc.peer)
			}
			if servers[1].opened && tc.name != "oversized-record" {
				t.Fatalf("server handler opened for a failed handshake")
			}
			// The healthy session still echoes.
			_ = ok.conn.Write([]byte("still here"))
			r.settle(func() bool { return ok.data.Len() >= 10 || ok.closed })
			if ok.data.String() != "still here" || servers[0].closed {
				t.Fatalf("healthy session: got %q, closed %v (%v)", ok.data.String(), ok.closed, ok.err)
			}
			_ = okConn
		})
	}
}

// TestBackpressure: a server handler that pauses holds at most one read
// of plaintext; the rest waits in the peer (TCP backpressure), and every
// byte arrives after ResumeRead.
func TestBackpressure(t *testing.T) {
	var srvConn engine.Conn
	got := &bytes.Buffer{}
	paused := false
	srv := &recorder{}
	srv.onOpen = func(c engine.Conn) { srvConn = c }
	srv.onData = func(c engine.Conn, in []byte) int {
		got.Write(in)
		if got.Len() >= 100<<10 && !paused {
			paused = true
			c.PauseRead()
		}
		return len(in)
	}
	r := newRig(t, tlstest.ECDSAP256, memengine.Options{PipeBufferSize: 32 << 10}, func() engine.Handler { return srv })
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	cli := &pump{out: data}
	r.dial(cli, r.cli)
	r.settle(func() bool { return paused })
	r.settle(func() bool { return true })
	held := got.Len()
	if held > 100<<10+16<<10 {
		t.Fatalf("paused handler got %d bytes, more than the threshold plus one record", held)
	}
	if q := cli.conn.OutQueued(); q == 0 {
		t.Fatalf("nothing waits in the client's out-queue although the server paused")
	}
	srvConn.ResumeRead()
	r.settle(func() bool { return srv.eof })
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("got %d bytes, want %d", got.Len(), len(data))
	}
}

// TestPartialConsumption: a handler that consumes one byte per OnData is
// offered the rest at once, as the engine contract says.
func TestPartialConsumption(t *testing.T) {
	srv := &recorder{}
	calls := 0
	srv.onData = func(c engine.Conn, in []byte) int {
		calls++
		srv.data.WriteByte(in[0])
		return 1
	}
	r := newRig(t, tlstest.ECDSAP256, memengine.Options{}, func() engine.Handler { return srv })
	cli := &pump{out: []byte("abcdefgh")}
	r.dial(cli, r.cli)
	r.settle(func() bool { return srv.eof })
	if srv.data.String() != "abcdefgh" || calls != 8 {
		t.Fatalf("got %q in %d calls", srv.data.String(), calls)
	}
}

// TestWaitForMore: a handler that consumes nothing until it has 4 bytes is
// offered them again with the newer ones appended.
func TestWaitForMore(t *testing.T) {
	srv := &recorder{}
	srv.onData = func(c engine.Conn, in []byte) int {
		if len(in) < 4 {
			return 0
		}
		srv.data.Write(in[:4])
		return 4
	}
	r := newRig(t, tlstest.ECDSAP256, memengine.Options{}, func() engine.Handler { return srv })
	cli := &recorder{}
	cli.onOpen = func(c engine.Conn) { _ = c.Write([]byte("ab")) }
	r.dial(cli, r.cli)
	r.settle(func() bool { return srv.opened })
	r.settle(func() bool { return true })
	if srv.data.Len() != 0 {
		t.Fatalf("consumed early: %q", srv.data.String())
	}
	_ = cli.conn.Write([]byte("cdef"))
	r.settle(func() bool { return srv.data.Len() == 4 })
	if srv.data.String() != "abcd" {
		t.Fatalf("got %q", srv.data.String())
	}
}

// TestHalfClose: close_notify from the client is the server's read EOF;
// the server still answers, then closes its side.
func TestHalfClose(t *testing.T) {
	srv := &recorder{}
	srv.onEOF = func(c engine.Conn) {
		_ = c.Write([]byte("bye"))
		_ = c.CloseWrite()
	}
	r := newRig(t, tlstest.ECDSAP256, memengine.Options{}, func() engine.Handler { return srv })
	cli := &recorder{}
	cli.onOpen = func(c engine.Conn) { _ = c.Write([]byte("hi")); _ = c.CloseWrite() }
	r.dial(cli, r.cli)
	r.settle(func() bool { return cli.eof })
	if srv.data.String() != "hi" || cli.data.String() != "bye" {
		t.Fatalf("server got %q, client got %q", srv.data.String(), cli.data.String())
	}
	if err := cli.conn.Write([]byte("x")); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("write after CloseWrite: %v", err)
	}
}

// TestLimiter: with one slot, several handshakes still all complete, one
// goroutine at a time.
func TestLimiter(t *testing.T) {
	var servers []*recorder
	r := newRig(t, tlstest.ECDSAP256, memengine.Options{}, func() engine.Handler {
		s := &recorder{}
		servers = append(servers, s)
		return s
	})
	r.lim = NewLimiter(1)
	r.opts.Limiter = r.lim
	// The listener captured the old options: make a second listener.
	l, err := r.e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler {
		s := &recorder{}
		servers = append(servers, s)
		return Server(s, r.srv, r.opts)
	})
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	var clients []*recorder
	for range 4 {
		c := &recorder{}
		clients = append(clients, c)
		r.dial(c, r.cli)
	}
	maxRunning := 0
	r.settle(func() bool {
		maxRunning = max(maxRunning, r.lim.Running())
		for _, c := range clients {
			if !c.opened {
				return false
			}
		}
		return r.lim.Running() == 0 // the last server handshake ended too
	})
	if maxRunning > 1 {
		t.Fatalf("%d handshakes at once with one slot", maxRunning)
	}
	if r.lim.Running() != 0 {
		t.Fatalf("%d slots still held", r.lim.Running())
	}
}

// TestShortRead: crypto/tls sees records split at every offset (a 1-byte
// pipe) after the handshake too; bulk data survives.
func TestShortRead(t *testing.T) {
	srv := newEcho()
	r := newRig(t, tlstest.ECDSAP256, memengine.Options{PipeBufferSize: 7}, func() engine.Handler { return srv })
	data := bytes.Repeat([]byte("xyz"), 20000)
	cli := &pump{out: data}
	r.dial(cli, r.cli)
	r.settle(func() bool { return cli.eof || cli.closed })
	if !bytes.Equal(cli.data.Bytes(), data) {
		t.Fatalf("got %d bytes, want %d (err %v)", cli.data.Len(), len(data), cli.err)
	}
}

var _ = io.EOF

// TestPauseEveryRead: a handler that pauses after every delivery and
// resumes from a timer, on an engine whose read buffer is its minimum
// (4 KiB, less than one TLS record). crypto/tls often still holds a record
// when the handler pauses, so the layer must take the engine's bytes
// anyway (engine.ErrReadBufferFull otherwise); every byte arrives.
func TestPauseEveryRead(t *testing.T) {
	got := &bytes.Buffer{}
	srv := &recorder{}
	srv.onData = func(c engine.Conn, in []byte) int {
		got.Write(in)
		c.PauseRead()
		c.AfterFunc(time.Millisecond, c.ResumeRead)
		return len(in)
	}
	r := newRig(t, tlstest.ECDSAP256, memengine.Options{Config: engine.Config{ReadBufferSize: engine.MinReadBufferSize}}, func() engine.Handler { return srv })
	data := bytes.Repeat([]byte("pause and resume "), 40000)
	cli := &pump{out: data}
	r.dial(cli, r.cli)
	for i := 0; i < 20000 && !srv.eof && !srv.closed; i++ {
		r.settle(func() bool { return true })
		r.clk.Advance(time.Millisecond)
	}
	if srv.closed || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("got %d of %d bytes, closed %v (%v)", got.Len(), len(data), srv.closed, srv.err)
	}
}

// TestAlertLinger: after a failed handshake whose alert was still queued,
// the server shuts its write side (alert, then FIN) and, if the peer does
// not close in turn, closes after AlertLinger; a peer that closes ends it
// at once.
func TestAlertLinger(t *testing.T) {
	for _, peerCloses := range []bool{false, true} {
		t.Run(fmt.Sprintf("peer-closes=%v", peerCloses), func(t *testing.T) {
			var srv *recorder
			// A 4-byte pipe and a client that does not read until the
			// server has failed keep the 7-byte alert queued when
			// failFlush runs, whatever the goroutines' timing: that is
			// the path under test (with nothing queued it is a plain
			// close).
			r := newRig(t, tlstest.ECDSAP256, memengine.Options{PipeBufferSize: 4}, func() engine.Handler {
				srv = &recorder{}
				return srv
			})
			// A handshake record whose ClientHello announces 4 bytes and
			// holds 2: crypto/tls answers decode_error.
			c := &rawClient{send: []byte{0x16, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0}, pause: true}
			if peerCloses {
				c.onEOF = func(conn engine.Conn) { _ = conn.Close() }
			}
			if _, err := r.e.Dial(r.addr, c, engine.DialOptions{}); err != nil {
				t.Fatal(err)
			}
			r.settle(func() bool { return len(r.servers) == 1 && r.servers[0].st >= stClosing })
			if sc := r.servers[0]; sc.st != stClosing || sc.lingerTimer == nil {
				t.Fatalf("server state %v, linger timer %v: want the alert queued behind CloseWrite", sc.st, sc.lingerTimer)
			}
			c.conn.ResumeRead()
			r.settle(func() bool { return c.eof || c.closed })
			if b := c.data.Bytes(); len(b) != 7 || b[0] != 21 || b[5] != 2 || b[6] != 50 {
				t.Fatalf("client read % x before the FIN, want one fatal decode_error alert", b)
			}
			if peerCloses {
				r.settle(func() bool { return srv.closed })
			} else {
				r.e.Settle()
				if srv.closed {
					t.Fatal("server closed before AlertLinger though the peer stays")
				}
				r.clk.Advance(AlertLinger)
				r.settle(func() bool { return srv.closed })
			}
			if srv.opened || srv.err == nil || !strings.Contains(srv.err.Error(), "handshake") {
				t.Fatalf("server: opened %v, closed with %v; want a handshake error and no OnOpen", srv.opened, srv.err)
			}
		})
	}
}
