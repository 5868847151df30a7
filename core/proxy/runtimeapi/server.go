package runtimeapi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/proxy/config"
)

// Server serves the runtime API on the configured sockets.
type Server struct {
	px   Proxy
	cfg  config.Stats
	sem  chan struct{} // "stats maxconn": one token per client being served
	lns  []*socket
	wg   sync.WaitGroup
	mu   sync.Mutex
	open map[net.Conn]struct{}
	done bool
}

type socket struct {
	cfg  config.StatsSocket
	ln   net.Listener
	sem  chan struct{} // the socket's own maxconn; nil: none
	path string        // unix: the path to remove on Close
	ino  uint64        // unix: the inode we bound, so Close never removes another process's socket
}

// Listen binds every socket of cfg; on error nothing stays bound. Serve
// starts answering.
func Listen(cfg config.Stats, px Proxy) (*Server, error) {
	if cfg.MaxConn <= 0 {
		cfg.MaxConn = config.DefaultStatsMaxConn
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = config.DefaultStatsTimeout
	}
	s := &Server{px: px, cfg: cfg, sem: make(chan struct{}, cfg.MaxConn), open: map[net.Conn]struct{}{}}
	for _, sc := range cfg.Sockets {
		so, err := bind(sc)
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("%s:%d: stats socket %s: %w", sc.Where.File, sc.Where.Line, sc.Addr, err)
		}
		s.lns = append(s.lns, so)
	}
	return s, nil
}

// bind listens on one socket. A UNIX socket is bound under a temporary
// name and renamed over its path, as HAProxy does, so a stale socket file
// left by a previous process is replaced atomically.
func bind(sc config.StatsSocket) (*socket, error) {
	so := &socket{cfg: sc}
	if sc.MaxConn > 0 {
		so.sem = make(chan struct{}, sc.MaxConn)
	}
	if sc.Network != "unix" {
		ln, err := net.Listen("tcp", sc.Addr)
		if err != nil {
			return nil, err
		}
		so.ln = ln
		return so, nil
	}
	tmp := fmt.Sprintf("%s.%d.tmp", sc.Addr, os.Getpid())
	_ = os.Remove(tmp)
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	fail := func(err error) (*socket, error) {
		_ = ln.Close()
		_ = os.Remove(tmp)
		return nil, err
	}
	if sc.Mode != 0 {
		if err := os.Chmod(tmp, os.FileMode(sc.Mode)); err != nil {
			return fail(err)
		}
	}
	if err := os.Rename(tmp, sc.Addr); err != nil {
		return fail(err)
	}
	so.ln, so.path = ln, sc.Addr
	so.ino = inode(sc.Addr)
	return so, nil
}

// Addrs are the bound addresses, in configuration order.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.lns))
	for i, so := range s.lns {
		out[i] = so.ln.Addr()
		if so.path != "" {
			out[i] = &net.UnixAddr{Name: so.path, Net: "unix"}
		}
	}
	return out
}

// Serve starts one accept loop per socket and returns.
func (s *Server) Serve() {
	for _, so := range s.lns {
		s.wg.Add(1)
		go s.acceptLoop(so)
	}
}

// acceptLoop serves one socket. It takes the socket's own client token
// before accepting, and the global ("stats maxconn") one after: clients
// beyond the limits wait in the kernel's accept backlog, plus at most one
// accepted client per socket waiting for a global token, rather than in
// memory.
func (s *Server) acceptLoop(so *socket) {
	defer s.wg.Done()
	for {
		if so.sem != nil {
			so.sem <- struct{}{}
		}
		conn, err := so.ln.Accept()
		if err != nil {
			if so.sem != nil {
				<-so.sem
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient accept error (EMFILE...): back off briefly.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.sem <- struct{}{}
		release := func() {
			<-s.sem
			if so.sem != nil {
				<-so.sem
			}
		}
		if !s.track(conn) {
			release()
			_ = conn.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer release()
			defer s.untrack(conn)
			s.serve(conn, so.cfg.Level)
		}()
	}
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return false
	}
	s.open[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.open, c)
	s.mu.Unlock()
	_ = c.Close()
}

// errLineTooLong ends a client whose line exceeds MaxLine.
var errLineTooLong = errors.New("command line too long")

// serve runs one client: read a line, run its commands, answer; once
// without prompt mode, until quit, EOF or the idle timeout with it.
func (s *Server) serve(conn net.Conn, level config.Level) {
	c := &client{px: s.px, level: level, timeout: s.cfg.Timeout}
	r := bufio.NewReaderSize(conn, 4096)
	bw := bufio.NewWriterSize(conn, 16384)
	c.w = &deadlineWriter{conn: conn, w: bw, c: c}
	for {
		_ = conn.SetReadDeadline(time.Now().Add(c.timeout))
		line, err := readLine(r)
		if errors.Is(err, errLineTooLong) {
			_, _ = io.WriteString(c.w, "Command line too long.\n")
			_ = bw.Flush()
			return
		}
		if err != nil {
			return // EOF, idle timeout, or a line cut by EOF: nothing to answer
		}
		wasPrompt := c.prompt
		for _, args := range SplitLine(line) {
			c.exec(args)
			if c.quit {
				break // HAProxy closes at once, without the end marker
			}
			end := "\n"
			if c.prompt {
				end = "\n> "
			}
			_, _ = io.WriteString(c.w, end)
		}
		_ = conn.SetWriteDeadline(time.Now().Add(c.timeout))
		if bw.Flush() != nil || c.quit {
			return
		}
		// Without prompt mode a connection carries one request; lines that
		// came in the same read are answered as well (HAProxy does the
		// same), then the connection is closed.
		if !c.prompt && !wasPrompt && !bytes.Contains(peekBuffered(r), []byte{'\n'}) {
			return
		}
		if !c.prompt && wasPrompt {
			return
		}
	}
}

// peekBuffered returns the bytes already read but not consumed.
func peekBuffered(r *bufio.Reader) []byte {
	b, _ := r.Peek(r.Buffered())
	return b
}

// readLine reads one '\n'-terminated line of at most MaxLine bytes,
// without its '\n'. A line cut by EOF is an error: HAProxy answers only
// complete lines.
func readLine(r *bufio.Reader) (string, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > MaxLine+1 {
			return "", errLineTooLong
		}
		line = append(line, frag...)
		switch {
		case err == nil:
			return string(line[:len(line)-1]), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return "", err
		}
	}
}

// deadlineWriter writes through the buffer and arms the write deadline
// before any write that may reach the socket, so a client that does not
// read its output is dropped after the timeout instead of blocking.
type deadlineWriter struct {
	conn net.Conn
	w    *bufio.Writer
	c    *client
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if len(p) > d.w.Available() {
		_ = d.conn.SetWriteDeadline(time.Now().Add(d.c.timeout))
	}
	return d.w.Write(p)
}

// Close closes the sockets and every client connection, waits for their
// goroutines, and removes the UNIX socket files it created.
func (s *Server) Close() error {
	s.mu.Lock()
	s.done = true
	for c := range s.open {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.closeListeners()
	s.wg.Wait()
	return nil
}

func (s *Server) closeListeners() {
	for _, so := range s.lns {
		_ = so.ln.Close()
		if so.path != "" && so.ino != 0 && inode(so.path) == so.ino {
			_ = os.Remove(so.path)
		}
	}
}
