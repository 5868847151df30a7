package proxy

import (
	"bytes"
	"testing"
	"time"
)

const listenCfg = `
listen l
    bind 127.0.0.1:8000
    server s1 127.0.0.1:9000
`

// Data flows both ways and every byte arrives in order (spec/proxy.md
// "Sessions").
func TestRelayBothWays(t *testing.T) {
	h := newHarness(t, cfgWith(listenCfg), 0)
	h.server("127.0.0.1:9000", func() *peer { return &peer{echo: true} })
	h.start()
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	want := pattern(300_000, 1)
	// Write in pieces the out-queue accepts, settling in between.
	for off := 0; off < len(want); {
		n := min(8192, len(want)-off)
		if err := cli.conn.Write(want[off : off+n]); err != nil {
			h.settle()
			continue
		}
		off += n
		h.settle()
	}
	h.settle()
	if !bytes.Equal(cli.data.Bytes(), want) {
		t.Fatalf("echo through proxy: got %d bytes, want %d (equal=%v)", cli.data.Len(), len(want), bytes.Equal(cli.data.Bytes(), want))
	}
	st, _ := h.p.FrontendStats("l")
	if st.Bin != int64(len(want)) || st.Bout != int64(len(want)) || st.Scur != 1 || st.Stot != 1 {
		t.Errorf("frontend stats = %+v", st)
	}
}

// Half-close matrix (spec/proxy.md "Half-close"): shutr on one side
// becomes shutw on the other after every byte; the other direction keeps
// working; the session ends when both directions have ended.
func TestHalfCloseClientFirst(t *testing.T) {
	h := newHarness(t, cfgWith(listenCfg), 0)
	h.server("127.0.0.1:9000", func() *peer { return &peer{} })
	h.start()
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	req := pattern(50_000, 3)
	_ = cli.conn.Write(req)
	_ = cli.conn.CloseWrite()
	h.settle()
	srv := h.only("127.0.0.1:9000")
	if !bytes.Equal(srv.data.Bytes(), req) || !srv.eof {
		t.Fatalf("server got %d bytes eof=%v, want %d and EOF", srv.data.Len(), srv.eof, len(req))
	}
	if cli.eof || cli.closed {
		t.Fatal("client side closed before the server finished")
	}
	// The response direction still works after the request direction ended.
	resp := pattern(70_000, 9)
	for off := 0; off < len(resp); off += 10_000 {
		_ = srv.conn.Write(resp[off : off+10_000])
		h.settle()
	}
	_ = srv.conn.CloseWrite()
	h.settle()
	if !bytes.Equal(cli.data.Bytes(), resp) || !cli.eof {
		t.Fatalf("client got %d bytes eof=%v, want %d and EOF", cli.data.Len(), cli.eof, len(resp))
	}
	h.advance(100 * time.Millisecond) // lingering close
	if h.p.Sessions() != 0 {
		t.Fatalf("after both EOFs: sessions=%d", h.p.Sessions())
	}
}

func TestHalfCloseServerFirst(t *testing.T) {
	h := newHarness(t, cfgWith(listenCfg), 0)
	banner := pattern(40_000, 5)
	h.server("127.0.0.1:9000", func() *peer { return &peer{} })
	h.start()
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	srv := h.only("127.0.0.1:9000")
	_ = srv.conn.Write(banner)
	_ = srv.conn.CloseWrite()
	h.settle()
	if !bytes.Equal(cli.data.Bytes(), banner) || !cli.eof {
		t.Fatalf("client got %d bytes eof=%v", cli.data.Len(), cli.eof)
	}
	if srv.eof || srv.closed {
		t.Fatal("server side ended before the client did")
	}
	req := pattern(33_333, 7)
	_ = cli.conn.Write(req)
	_ = cli.conn.CloseWrite()
	h.settle()
	if !bytes.Equal(srv.data.Bytes(), req) || !srv.eof {
		t.Fatalf("server got %d bytes eof=%v", srv.data.Len(), srv.eof)
	}
	h.advance(100 * time.Millisecond)
	if h.p.Sessions() != 0 {
		t.Fatalf("sessions=%d after both EOFs", h.p.Sessions())
	}
}

func TestHalfCloseBoth(t *testing.T) {
	h := newHarness(t, cfgWith(listenCfg), 0)
	h.server("127.0.0.1:9000", func() *peer { return &peer{} })
	h.start()
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	srv := h.only("127.0.0.1:9000")
	a, b := pattern(20_000, 1), pattern(30_000, 2)
	_ = cli.conn.Write(a)
	_ = srv.conn.Write(b)
	_ = cli.conn.CloseWrite()
	_ = srv.conn.CloseWrite()
	h.settle()
	h.advance(100 * time.Millisecond)
	if !bytes.Equal(srv.data.Bytes(), a) || !srv.eof || !bytes.Equal(cli.data.Bytes(), b) || !cli.eof {
		t.Fatalf("server %d/%v client %d/%v", srv.data.Len(), srv.eof, cli.data.Len(), cli.eof)
	}
	if h.p.Sessions() != 0 {
		t.Fatal("session not closed after both EOFs")
	}
}

// Client bytes and EOF sent before the server leg is up are delivered
// after it connects, EOF last.
func TestEarlyDataAndEOF(t *testing.T) {
	h := newHarness(t, cfgWith(listenCfg), 0)
	h.server("127.0.0.1:9000", func() *peer { return &peer{} })
	h.start()
	cli := &peer{onOpen: nil}
	h.dial("127.0.0.1:8000", cli)
	req := pattern(3000, 4)
	_ = cli.conn.Write(req)
	_ = cli.conn.CloseWrite()
	h.settle()
	srv := h.only("127.0.0.1:9000")
	if !bytes.Equal(srv.data.Bytes(), req) || !srv.eof {
		t.Fatalf("server got %d bytes eof=%v", srv.data.Len(), srv.eof)
	}
}

// timeout client-fin closes a client that never finishes after the
// server ended its direction; timeout server-fin the other way round.
func TestClientFinTimeout(t *testing.T) {
	h := newHarness(t, cfgWith(listenCfg, "    timeout client-fin 2s"), 0)
	h.server("127.0.0.1:9000", func() *peer { return &peer{} })
	h.start()
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	srv := h.only("127.0.0.1:9000")
	_ = srv.conn.Write([]byte("bye"))
	_ = srv.conn.CloseWrite()
	h.settle()
	if !cli.eof || cli.closed {
		t.Fatalf("client eof=%v closed=%v", cli.eof, cli.closed)
	}
	h.advance(1900 * time.Millisecond)
	if h.p.Sessions() != 1 || srv.eof {
		t.Fatal("closed before client-fin")
	}
	h.advance(200 * time.Millisecond)
	// The lingering client is dropped and the server sees the end.
	if h.p.Sessions() != 0 || !srv.eof {
		t.Fatalf("after client-fin: sessions=%d server eof=%v", h.p.Sessions(), srv.eof)
	}
}

func TestServerFinTimeout(t *testing.T) {
	h := newHarness(t, cfgWith(listenCfg, "    timeout server-fin 3s"), 0)
	h.server("127.0.0.1:9000", func() *peer { return &peer{} })
	h.start()
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	srv := h.only("127.0.0.1:9000")
	_ = cli.conn.Write([]byte("req"))
	_ = cli.conn.CloseWrite()
	h.settle()
	if !srv.eof {
		t.Fatal("server did not get EOF")
	}
	h.advance(2900 * time.Millisecond)
	if h.p.Sessions() != 1 || cli.eof {
		t.Fatal("closed before server-fin")
	}
	h.advance(200 * time.Millisecond)
	if h.p.Sessions() != 0 || !cli.eof {
		t.Fatalf("after server-fin: sessions=%d client eof=%v", h.p.Sessions(), cli.eof)
	}
}

// An idle session ends after timeout client/server.
func TestInactivityTimeout(t *testing.T) {
	h := newHarness(t, cfgWith(listenCfg), 0)
	h.server("127.0.0.1:9000", func() *peer { return &peer{} })
	h.start()
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	for i := 0; i < 5; i++ { // activity every 4s keeps it alive
		h.advance(4 * time.Second)
		_ = cli.conn.Write([]byte("x"))
		h.settle()
	}
	if h.p.Sessions() != 1 || cli.eof {
		t.Fatal("active session timed out")
	}
	h.advance(10*time.Second + time.Millisecond)
	if h.p.Sessions() != 0 || !cli.eof {
		t.Fatal("idle session not closed after timeout client")
	}
}

// A slow reader: the other side is paused, the session holds at most
// 1.5 × bufsize per direction, and a second session keeps flowing.
func TestSlowReaderBackpressure(t *testing.T) {
	h := newHarness(t, cfgWith(listenCfg), 8192)
	h.server("127.0.0.1:9000", func() *peer { return &peer{paused: true} })
	h.start()
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	bufsize := h.cfg.Global.BufSize
	sent := 0
	chunk := pattern(4096, 1)
	for i := 0; i < 500; i++ { // 2 MiB offered
		if cli.conn.Write(chunk) == nil {
			sent += len(chunk)
		}
		h.settle()
	}
	srvSide := h.only("127.0.0.1:9000")
	s := h.sessions[0]
	held := s.srvConn.OutQueued()
	// High-water (bufsize/2) plus one read: 1.5 x bufsize, under the
	// 2 x bufsize the acceptance asks for.
	if held > bufsize/2+bufsize || held < bufsize/2 {
		t.Fatalf("request channel holds %d bytes, want bufsize/2 < n <= 1.5 x %d", held, bufsize)
	}
	if !s.req.paused {
		t.Fatal("client not paused while the server does not read")
	}
	if cli.conn.OutQueued() == 0 || sent >= 2<<20 {
		t.Fatalf("client never saw backpressure (sent %d)", sent)
	}
	// Another session on the same proxy still relays at full speed.
	h2 := &peer{}
	h.dial("127.0.0.1:8000", h2)
	h.settle()
	// The second server conn is a paused peer too; use the response way.
	srv2 := h.servers["127.0.0.1:9000"][1]
	big := pattern(200_000, 3)
	for off := 0; off < len(big); off += 10_000 {
		_ = srv2.conn.Write(big[off : off+10_000])
		h.settle()
	}
	if !bytes.Equal(h2.data.Bytes(), big) {
		t.Fatalf("second session got %d bytes", h2.data.Len())
	}
	// The slow reader catches up: everything arrives, nothing is lost.
	srvSide.paused = false
	srvSide.conn.ResumeRead()
	h.settle()
	for i := 0; i < 100 && cli.conn.OutQueued() > 0; i++ {
		h.settle()
	}
	if srvSide.data.Len() != sent {
		t.Fatalf("after resume the server got %d bytes, client sent %d", srvSide.data.Len(), sent)
	}
}

// More early data than one buffer while the server is unreachable: the
// client is paused at bufsize, and after a successful retry every byte
// arrives in order.
func TestEarlyDataOverBufsizeAcrossRetry(t *testing.T) {
	h := newHarness(t, cfgWith(listenCfg), 4096)
	h.start()
	cli := h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	want := pattern(50_000, 8)
	sent := 0
	for sent < len(want) {
		n := min(4096, len(want)-sent)
		if cli.conn.Write(want[sent:sent+n]) != nil {
			break
		}
		sent += n
		h.settle()
	}
	s := h.sessions[0]
	if len(s.pending) != h.cfg.Global.BufSize {
		t.Fatalf("pending %d bytes while connecting, want bufsize %d", len(s.pending), h.cfg.Global.BufSize)
	}
	h.server("127.0.0.1:9000", func() *peer { return &peer{} })
	h.advance(time.Second) // the retry after the turn-around finds the server
	for sent < len(want) {
		n := min(4096, len(want)-sent)
		if cli.conn.Write(want[sent:sent+n]) == nil {
			sent += n
		}
		h.settle()
	}
	_ = cli.conn.CloseWrite()
	h.settle()
	srv := h.only("127.0.0.1:9000")
	if !bytes.Equal(srv.data.Bytes(), want) || !srv.eof {
		t.Fatalf("server got %d/%d bytes eof=%v", srv.data.Len(), len(want), srv.eof)
	}
}
