// Package rawtcp is the physical floor of the machine: the smallest TCP
// servers that do the work the scenarios ask for and nothing else. Echo
// writes back whatever it reads (ping-pong, keepalive frames, connection
// rate); Sink counts a framed stream up to its end frame and answers the
// 8-byte count (bulk streams, so the client learns what really arrived;
// loadgen's streamproto.go, no half-close needed); Txn reads one
// loadgen.TxnSize request, answers it and closes first (connection rate).
package rawtcp

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/netmodels/netmodels/perf/loadgen"
)

// Server is an echo, a sink and a txn listener.
type Server struct {
	Echo, Sink, Txn net.Listener
	wg              sync.WaitGroup
	mu              sync.Mutex
	conns           map[net.Conn]struct{}
}

// Listen binds the three listeners on host with kernel-chosen ports.
func Listen(host string) (*Server, error) { return ListenEchoPort(host, 0) }

// ListenEchoPort is Listen with the echo listener on echoPort (0: any), so
// a restarted server comes back where its clients look (perf soak).
func ListenEchoPort(host string, echoPort int) (*Server, error) {
	var lns []net.Listener
	for i := range 3 {
		port := "0"
		if i == 0 && echoPort != 0 {
			port = strconv.Itoa(echoPort)
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	return &Server{Echo: lns[0], Sink: lns[1], Txn: lns[2], conns: map[net.Conn]struct{}{}}, nil
}

// Addrs are the listeners' addresses in READY order: echo, sink, txn.
func (s *Server) Addrs() []string {
	return []string{s.Echo.Addr().String(), s.Sink.Addr().String(), s.Txn.Addr().String()}
}

// Serve runs until ctx ends, then closes every connection.
func (s *Server) Serve(ctx context.Context) {
	s.wg.Add(3)
	go s.accept(s.Echo, echo)
	go s.accept(s.Sink, sink)
	go s.accept(s.Txn, txn)
	<-ctx.Done()
	s.Echo.Close()
	s.Sink.Close()
	s.Txn.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept(ln net.Listener, serve func(net.Conn)) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // EMFILE and friends: keep serving the others
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			serve(c)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// echo uses a 64 KiB buffer: a fixed bound whatever the request size.
func echo(c net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// sinkBufSize is the sink's read size: a fixed bound whatever the frames.
const sinkBufSize = 256 << 10

// sinkLinger bounds how long the sink waits for the client's close after
// answering (the client closes as soon as it has read the count).
const sinkLinger = 10 * time.Second

// sink counts one framed stream (loadgen.StreamDecoder) and answers its
// count after the end frame. A stream that ends before its end frame, a
// bad header, or bytes after the end frame (the client sends nothing
// until it has the count) get no answer: the client's count read fails.
func sink(c net.Conn) {
	buf := make([]byte, sinkBufSize)
	var d loadgen.StreamDecoder
	for {
		n, err := c.Read(buf)
		used, done, derr := d.Feed(buf[:n])
		if derr != nil || (done && used < n) {
			return
		}
		if done {
			break
		}
		if err != nil {
			return
		}
	}
	var b [loadgen.StreamHeaderSize]byte
	binary.BigEndian.PutUint64(b[:], uint64(d.Count()))
	if _, err := c.Write(b[:]); err != nil {
		return
	}
	// Close after the client does: closing first could reach a proxy
	// before it has relayed the count.
	_ = c.SetReadDeadline(time.Now().Add(sinkLinger))
	_, _ = io.Copy(io.Discard, c)
}

// txn answers one connection-rate transaction and closes first (the caller
// closes c with nothing unread, so the close is a FIN, not a reset). The
// deadline bounds a client that connects and says nothing.
func txn(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, loadgen.TxnSize)
	if _, err := io.ReadFull(c, buf); err != nil {
		return
	}
	_, _ = c.Write(buf)
}
