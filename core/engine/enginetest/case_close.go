package enginetest

import (
	"bytes"
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// halfClose runs one exchange where the "first" side sends a request and
// shuts its write side, and the "second" side answers after read EOF and
// shuts its own. Either the client or the server can go first.
func (k *kit) halfClose(clientFirst bool) {
	t := k.t
	e := k.engine(engine.Config{})
	req := bytes.Repeat([]byte("request."), 32<<10)   // 256 KiB
	resp := bytes.Repeat([]byte("response"), 128<<10) // 1 MiB

	type peer struct {
		h   *handler
		got []byte
	}
	first := func(p *peer, h *handler) {
		p.h = h
		h.open = func(c engine.Conn) {
			if err := c.Write(req); err != nil {
				t.Errorf("%s Write: %v", h.name, err)
			}
			if err := c.CloseWrite(); err != nil {
				t.Errorf("%s CloseWrite: %v", h.name, err)
			}
			if err := c.Write([]byte("x")); !errors.Is(err, engine.ErrClosed) {
				t.Errorf("%s Write after CloseWrite: %v, want ErrClosed", h.name, err)
			}
		}
		h.data = func(c engine.Conn, in []byte) int {
			p.got = append(p.got, in...)
			return len(in)
		}
	}
	second := func(p *peer, h *handler) {
		p.h = h
		h.data = func(c engine.Conn, in []byte) int {
			p.got = append(p.got, in...)
			return len(in)
		}
		h.eof = func(c engine.Conn) {
			// Read EOF must leave the write side usable.
			if !bytes.Equal(p.got, req) {
				t.Errorf("%s: got %d request bytes before EOF, want %d", h.name, len(p.got), len(req))
			}
			if err := c.Write(resp); err != nil {
				t.Errorf("%s Write after read EOF: %v (spec: the write side stays usable)", h.name, err)
			}
			if err := c.CloseWrite(); err != nil {
				t.Errorf("%s CloseWrite: %v", h.name, err)
			}
		}
	}
	var srv, cli peer
	srvConn := make(chan engine.Conn, 1)
	_, addr := k.listen(e, func(c engine.Conn) engine.Handler {
		h := newHandler(t, "server", nil)
		if clientFirst {
			second(&srv, h)
		} else {
			first(&srv, h)
		}
		srvConn <- c
		return h
	})
	ch := newHandler(t, "client", nil)
	if clientFirst {
		first(&cli, ch)
	} else {
		second(&cli, ch)
	}
	cc := k.dial(e, addr, ch, engine.DialOptions{})
	sc := <-srvConn
	f, s := &cli, &srv
	if !clientFirst {
		f, s = &srv, &cli
	}
	s.h.waitEOF(t, s.h.name+" OnReadEOF after the request")
	f.h.waitEOF(t, f.h.name+" OnReadEOF after the response")
	if !bytes.Equal(f.got, resp) {
		t.Errorf("%s received %d response bytes, want %d", f.h.name, len(f.got), len(resp))
	}
	_ = cc.Close()
	_ = sc.Close()
	if err := ch.waitClosed(t); err != nil {
		t.Errorf("client OnClose: %v, want nil", err)
	}
	if err := srv.h.waitClosed(t); err != nil {
		t.Errorf("server OnClose: %v, want nil", err)
	}
}

// Spec: "Read EOF and half-close", "CloseWrite". The client shuts its
// write side first; the server answers after OnReadEOF.
func testHalfCloseClientFirst(k *kit) { k.halfClose(true) }

// Spec: "Read EOF and half-close", "CloseWrite". The mirror: the server
// shuts first; the client answers after OnReadEOF.
func testHalfCloseServerFirst(k *kit) { k.halfClose(false) }

// Spec: "Close". Close from another goroutine while the loop keeps the
// out-queue full and four goroutines write concurrently: no panic, only
// the documented errors, OnClose exactly once with nil, and Shutdown at
// the end finds no goroutine left.
func testCloseWhileWriting(k *kit) {
	t := k.t
	e := k.engine(engine.Config{OutQueueLimit: 1 << 20})
	srv := newHandlers(1)
	srvConn := make(chan engine.Conn, 1)
	_, addr := k.listen(e, func(engine.Conn) engine.Handler {
		h := newHandler(t, "server", nil)
		// Paused, so the client's queue fills at once and Close meets a
		// flush blocked on a full socket.
		h.open = func(c engine.Conn) { c.PauseRead(); srvConn <- c }
		h.eof = func(c engine.Conn) { _ = c.Close() }
		srv.add(h)
		return h
	})
	p := newPump(t, 64<<10, 1<<20, 1<<40)
	p.shared = true
	full := make(chan struct{})
	var fullOnce sync.Once
	ch := newHandler(t, "client", nil)
	ch.open = func(c engine.Conn) {
		p.fill(c)
		if p.refused.Load() > 0 {
			fullOnce.Do(func() { close(full) })
		}
	}
	ch.drained = func(c engine.Conn) {
		p.fill(c)
		if p.refused.Load() > 0 {
			fullOnce.Do(func() { close(full) })
		}
	}
	c := k.dial(e, addr, ch, engine.DialOptions{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 1024)
			for {
				err := c.Write(b)
				switch {
				case err == nil:
				case errors.Is(err, engine.ErrOutQueueFull):
					runtime.Gosched()
				case errors.Is(err, engine.ErrClosed):
					return
				default:
					t.Errorf("concurrent Write: %v, want nil, ErrOutQueueFull or ErrClosed", err)
					return
				}
			}
		}()
	}
	wait(t, full, "out-queue full")
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v (spec: idempotent)", err)
	}
	wg.Wait()
	if err := ch.waitClosed(t); err != nil {
		t.Errorf("OnClose after local Close: %v, want nil", err)
	}
	if err := c.Write([]byte("x")); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if q := c.OutQueued(); q != 0 {
		t.Errorf("OutQueued after Close = %d, want 0 (queue discarded)", q)
	}
	sh := srv.next(t)
	sc := <-srvConn
	if err := sc.Execute(sh.g.run("resume", sc.ResumeRead)); err != nil {
		t.Errorf("Execute: %v", err)
	}
	sh.waitClosed(t)
}

// Spec: "Close", "Execute". Every way a connection can end yields exactly
// one OnClose, after every other callback (the kit's handler checks that
// on each callback); afterwards the Conn refuses work.
func testCloseOnceAndLast(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	type variant struct {
		name   string
		client func(h *handler)
		server func(h *handler)
		after  func(c engine.Conn) // from the test goroutine, after Dial
	}
	closeNow := func(c engine.Conn) { _ = c.Close() }
	variants := []variant{
		{name: "close in OnOpen", client: func(h *handler) { h.open = closeNow }},
		{name: "close in OnData", server: func(h *handler) {
			h.data = func(c engine.Conn, in []byte) int { _ = c.Close(); return len(in) }
		}, client: func(h *handler) {
			h.open = func(c engine.Conn) { _ = c.Write([]byte("bye")) }
		}},
		{name: "close in OnReadEOF", client: func(h *handler) {
			h.open = func(c engine.Conn) { _ = c.CloseWrite() }
		}},
		{name: "close from Execute and outside at once", after: func(c engine.Conn) {
			var wg sync.WaitGroup
			for i := 0; i < 4; i++ {
				wg.Add(2)
				go func() { defer wg.Done(); _ = c.Close() }()
				go func() { defer wg.Done(); _ = c.Execute(func() { _ = c.Close() }) }()
			}
			wg.Wait()
		}},
		{name: "close in OnClose", client: func(h *handler) {
			h.open = closeNow
			h.closed = func(c engine.Conn, _ error) { _ = c.Close() }
		}},
	}
	for _, v := range variants {
		srv := newHandlers(1)
		_, addr := k.listen(e, func(engine.Conn) engine.Handler {
			h := newHandler(t, v.name+"/server", nil)
			h.eof = closeNow
			if v.server != nil {
				v.server(h)
			}
			srv.add(h)
			return h
		})
		ch := newHandler(t, v.name+"/client", nil)
		ch.eof = closeNow
		if v.client != nil {
			v.client(ch)
		}
		c := k.dial(e, addr, ch, engine.DialOptions{})
		if v.after != nil {
			wait(t, ch.openedCh, v.name+": client OnOpen")
			v.after(c)
		}
		ch.waitClosed(t)
		srv.next(t).waitClosed(t)
		if err := c.Execute(func() { t.Errorf("%s: Execute ran after OnClose", v.name) }); !errors.Is(err, engine.ErrClosed) {
			t.Errorf("%s: Execute after OnClose: %v, want ErrClosed", v.name, err)
		}
		if err := c.Write([]byte("x")); !errors.Is(err, engine.ErrClosed) {
			t.Errorf("%s: Write after OnClose: %v, want ErrClosed", v.name, err)
		}
		if err := c.Writev([][]byte{[]byte("x")}); !errors.Is(err, engine.ErrClosed) {
			t.Errorf("%s: Writev after OnClose: %v, want ErrClosed", v.name, err)
		}
		if err := c.CloseWrite(); !errors.Is(err, engine.ErrClosed) {
			t.Errorf("%s: CloseWrite after OnClose: %v, want ErrClosed", v.name, err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("%s: Close after OnClose: %v, want nil (idempotent)", v.name, err)
		}
	}
}

// Spec: "Dial". Dialing a port nobody listens on reports the failure
// through OnClose with a *net.OpError whose Op is "dial"; OnOpen never
// runs.
func testDialRefused(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	ln, addr := k.listen(e, func(engine.Conn) engine.Handler { return newHandler(t, "server", nil) })
	if err := ln.Close(); err != nil {
		t.Fatalf("listener Close: %v", err)
	}
	ch := newHandler(t, "client", nil)
	ch.open = func(engine.Conn) { t.Errorf("OnOpen for a refused dial") }
	k.dial(e, addr, ch, engine.DialOptions{Timeout: 5 * time.Second})
	err := ch.waitClosed(t)
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("OnClose error %v (%T), want a *net.OpError with Op \"dial\"", err, err)
	}
}

// Spec: "Dial". Write, CloseWrite and Execute before the dial completes:
// the bytes and the FIN go out once connected, the function runs.
func testDialQueuesWrites(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	var got []byte
	srv := newHandlers(1)
	_, addr := k.listen(e, func(engine.Conn) engine.Handler {
		h := newHandler(t, "server", nil)
		h.data = func(c engine.Conn, in []byte) int { got = append(got, in...); return len(in) }
		h.eof = func(c engine.Conn) { _ = c.Close() }
		srv.add(h)
		return h
	})
	ch := newHandler(t, "client", nil)
	ch.eof = func(c engine.Conn) { _ = c.Close() }
	c := k.dial(e, addr, ch, engine.DialOptions{})
	ran := make(chan struct{})
	if err := c.Execute(ch.g.run("Execute", func() { close(ran) })); err != nil {
		t.Fatalf("Execute before connect: %v", err)
	}
	msg := []byte("queued before connect")
	if err := c.Write(msg); err != nil {
		t.Fatalf("Write before connect: %v", err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite before connect: %v", err)
	}
	wait(t, ran, "Execute before connect to run")
	sh := srv.next(t)
	sh.waitClosed(t)
	if !bytes.Equal(got, msg) {
		t.Errorf("server got %q, want %q", got, msg)
	}
	ch.waitClosed(t)
}

// Spec: "Shutdown". With connections open on both engines, Shutdown
// returns within its bound and every open connection gets
// OnClose(ErrEngineClosed); the engine then refuses Listen and Dial.
func testShutdown(k *kit) {
	t := k.t
	es := k.engine(engine.Config{})
	ec := k.engine(engine.Config{})
	const n = 10
	srv := newHandlers(n)
	_, addr := k.listen(es, func(engine.Conn) engine.Handler {
		h := newHandler(t, "server", nil)
		srv.add(h)
		return h
	})
	var clients []*handler
	for i := 0; i < n; i++ {
		ch := newHandler(t, "client", nil)
		clients = append(clients, ch)
		k.dial(ec, addr, ch, engine.DialOptions{})
	}
	var servers []*handler
	for i := 0; i < n; i++ {
		h := srv.next(t)
		wait(t, h.openedCh, "server OnOpen")
		servers = append(servers, h)
	}
	for _, ch := range clients {
		wait(t, ch.openedCh, "client OnOpen")
	}
	shutdown := func(e engine.Engine, what string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		if err := e.Shutdown(ctx); err != nil {
			t.Fatalf("%s Shutdown: %v after %v", what, err, time.Since(start))
		}
	}
	shutdown(es, "server engine")
	for _, h := range servers {
		if err := h.waitClosed(t); !errors.Is(err, engine.ErrEngineClosed) {
			t.Errorf("server conn OnClose: %v, want ErrEngineClosed", err)
		}
	}
	// The clients' peers are gone: each sees read EOF (the kit's handler
	// keeps the connection open), then its own engine's Shutdown.
	for _, ch := range clients {
		ch.waitEOF(t, "client OnReadEOF after the server engine shut down")
	}
	shutdown(ec, "client engine")
	for _, ch := range clients {
		if err := ch.waitClosed(t); !errors.Is(err, engine.ErrEngineClosed) {
			t.Errorf("client conn OnClose: %v, want ErrEngineClosed", err)
		}
	}
	shutdown(es, "second") // idempotent
	if _, err := es.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return nil }); !errors.Is(err, engine.ErrEngineClosed) {
		t.Errorf("Listen after Shutdown: %v, want ErrEngineClosed", err)
	}
	if _, err := es.Dial(addr, newHandler(t, "late", nil), engine.DialOptions{}); !errors.Is(err, engine.ErrEngineClosed) {
		t.Errorf("Dial after Shutdown: %v, want ErrEngineClosed", err)
	}
}

// Spec: "Abort (optional: Aborter)". Where the engine offers it, the
// aborting side ends as after Close and its peer sees a reset: OnClose
// with ECONNRESET, no OnReadEOF.
func testAbort(k *kit) {
	t := k.t
	e := k.engine(engine.Config{})
	unsupported := make(chan struct{}, 1)
	srv := newHandlers(1)
	_, addr := k.listen(e, func(engine.Conn) engine.Handler {
		h := newHandler(t, "server", nil)
		h.data = func(c engine.Conn, in []byte) int {
			a, ok := c.(engine.Aborter)
			if !ok {
				unsupported <- struct{}{}
				_ = c.Close()
				return len(in)
			}
			_ = a.Abort()
			return len(in)
		}
		srv.add(h)
		return h
	})
	ch := newHandler(t, "client", nil)
	ch.open = func(c engine.Conn) { _ = c.Write([]byte("x")) }
	ch.eof = func(c engine.Conn) { _ = c.Close() } // a FIN: fails below
	k.dial(e, addr, ch, engine.DialOptions{})
	err := ch.waitClosed(t)
	select {
	case <-unsupported:
		t.Skip("engine does not implement engine.Aborter (optional capability)")
	default:
	}
	if ch.eofs.Load() != 0 || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("peer of an aborted connection: %d EOF, closed with %v; want no EOF and ECONNRESET", ch.eofs.Load(), err)
	}
	if err := srv.next(t).waitClosed(t); err != nil {
		t.Errorf("aborting side closed with %v, want nil (as Close)", err)
	}
}
