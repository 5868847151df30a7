package netpollengine

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// eofRecorder pauses in OnOpen, resumes from a timer, and records what it
// gets; OnReadEOF answers and shuts its write side.
type eofRecorder struct {
	engine.BaseHandler
	resumeAfter time.Duration
	got         []byte // loop only
	gotAtEOF    chan []byte
	closed      chan error
}

func (h *eofRecorder) OnOpen(c engine.Conn) {
	c.PauseRead()
	c.AfterFunc(h.resumeAfter, c.ResumeRead)
}

func (h *eofRecorder) OnData(_ engine.Conn, in []byte) int {
	h.got = append(h.got, in...)
	return len(in)
}

func (h *eofRecorder) OnReadEOF(c engine.Conn) {
	h.gotAtEOF <- append([]byte(nil), h.got...)
	_ = c.Write([]byte("bye"))
	_ = c.CloseWrite()
}

func (h *eofRecorder) OnClose(_ engine.Conn, err error) { h.closed <- err }

// TestEOFWhilePaused: the peer sends and shuts its write side while the
// connection is paused from OnOpen (so netpoll has not been given the
// socket yet). After ResumeRead the bytes arrive, then OnReadEOF, and the
// write side still works: the peer reads the answer and EOF.
func TestEOFWhilePaused(t *testing.T) {
	e, err := New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	shutdownAtEnd(t, e)
	h := &eofRecorder{resumeAfter: 100 * time.Millisecond, gotAtEOF: make(chan []byte, 1), closed: make(chan error, 1)}
	ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return h })
	if err != nil {
		t.Fatal(err)
	}
	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	msg := bytes.Repeat([]byte("paused "), 10000)
	if _, err := cl.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := cl.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-h.gotAtEOF:
		if !bytes.Equal(got, msg) {
			t.Fatalf("at OnReadEOF the handler had %d bytes, want %d", len(got), len(msg))
		}
	case <-time.After(boundTimeout):
		t.Fatal("no OnReadEOF")
	}
	_ = cl.SetReadDeadline(time.Now().Add(boundTimeout))
	var answer bytes.Buffer
	if _, err := answer.ReadFrom(cl); err != nil {
		t.Fatalf("reading the answer after half-close: %v", err)
	}
	if answer.String() != "bye" {
		t.Fatalf("answer %q, want \"bye\"", answer.String())
	}
}

// resetWatcher records whether OnReadEOF came and how the conn closed.
type resetWatcher struct {
	engine.BaseHandler
	eof    atomic.Bool
	closed chan error
}

func (h *resetWatcher) OnReadEOF(engine.Conn)            { h.eof.Store(true) }
func (h *resetWatcher) OnClose(_ engine.Conn, err error) { h.closed <- err }

// TestPeerResetIsAnError: netpoll reports a reset like a FIN (a hang-up);
// the engine must still tell them apart: OnClose with ECONNRESET and no
// OnReadEOF.
func TestPeerResetIsAnError(t *testing.T) {
	e, err := New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	shutdownAtEnd(t, e)
	h := &resetWatcher{closed: make(chan error, 1)}
	ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return h })
	if err != nil {
		t.Fatal(err)
	}
	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Write([]byte("some bytes")); err != nil {
		t.Fatal(err)
	}
	_ = cl.(*net.TCPConn).SetLinger(0) // Close sends RST
	_ = cl.Close()
	select {
	case err := <-h.closed:
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("OnClose(%v), want ECONNRESET", err)
		}
	case <-time.After(boundTimeout):
		t.Fatal("no OnClose after a reset")
	}
	if h.eof.Load() {
		t.Errorf("OnReadEOF for a reset")
	}
}

// echoHandler writes back what it reads.
type echoHandler struct{ engine.BaseHandler }

func (echoHandler) OnData(c engine.Conn, in []byte) int { _ = c.Write(in); return len(in) }

// TestListenerCloseKeepsConns: closing a listener stops accepting and
// leaves accepted connections working (spec/engine.md section 2), which
// netpoll's EventLoop cannot do and is why the engine accepts with
// package net.
func TestListenerCloseKeepsConns(t *testing.T) {
	e, err := New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	shutdownAtEnd(t, e)
	ln, err := e.Listen("127.0.0.1:0", func(engine.Conn) engine.Handler { return echoHandler{} })
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	cl, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	echo := func(msg string) {
		t.Helper()
		_ = cl.SetDeadline(time.Now().Add(boundTimeout))
		if _, err := cl.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(cl, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo %q: got %q, %v", msg, buf, err)
		}
	}
	echo("before")
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	echo("after the listener closed")
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("a closed listener still accepts")
	}
}
