package runtimeapi

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/proxy/config"
)

// startServer serves fake on a fresh UNIX socket (and a TCP one) and
// returns the socket paths by level.
func startServer(t *testing.T, px Proxy, stats config.Stats) *Server {
	t.Helper()
	s, err := Listen(stats, px)
	if err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func sockets(t *testing.T) config.Stats {
	dir := t.TempDir()
	return config.Stats{Timeout: 5 * time.Second, MaxConn: 10, Sockets: []config.StatsSocket{
		{Network: "unix", Addr: filepath.Join(dir, "admin.sock"), Level: config.LevelAdmin, Mode: 0o600},
		{Network: "unix", Addr: filepath.Join(dir, "user.sock"), Level: config.LevelUser},
		{Network: "tcp", Addr: "127.0.0.1:0", Level: config.LevelOperator},
	}}
}

func dialAPI(t *testing.T, a net.Addr) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(a.Network(), a.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// request sends text and reads until the server closes; a text that
// does not end a line is followed by our EOF.
func request(t *testing.T, a net.Addr, text string) string {
	t.Helper()
	c := dialAPI(t, a)
	// An empty text writes nothing: an empty write is still a write(2),
	// which meets EPIPE if the server already dropped an idle client.
	if text != "" {
		if _, err := io.WriteString(c, text); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(text, "\n") {
			_ = c.(interface{ CloseWrite() error }).CloseWrite()
		}
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("%q: %v after %q", text, err, b)
	}
	return string(b)
}

func TestSocketOneShot(t *testing.T) {
	s := startServer(t, newFake(), sockets(t))
	admin, user, tcp := s.Addrs()[0], s.Addrs()[1], s.Addrs()[2]
	if fi, err := os.Stat(admin.String()); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("admin socket file: %v %v", fi.Mode(), err)
	}
	for _, tc := range []struct {
		a          net.Addr
		send, want string
	}{
		{admin, "get weight be/s1\n", "3 (initial 3)\n\n"},
		{admin, "get weight be/s1;get weight be/s2\n", "3 (initial 3)\n\n1 (initial 1)\n\n"},
		// Lines that arrive together are all answered (HAProxy does too).
		{admin, "get weight be/s1\nget weight be/s2\n", "3 (initial 3)\n\n1 (initial 1)\n\n"},
		{admin, "get weight be/s1\r\n", "3 (initial 3)\n\n"},
		{user, "set weight be/s1 1\n", "Permission denied\n\n"},
		{user, "show cli level\n", "user\n\n"},
		{tcp, "show cli level\n", "operator\n\n"},
		// A line cut by EOF is not answered.
		{admin, "get weight be/s1", ""},
		{admin, "quit\n", ""},
	} {
		if got := request(t, tc.a, tc.send); got != tc.want {
			t.Errorf("%s %q: got %q, want %q", tc.a, tc.send, got, tc.want)
		}
	}
}

func TestSocketPrompt(t *testing.T) {
	s := startServer(t, newFake(), sockets(t))
	c := dialAPI(t, s.Addrs()[0])
	r := bufio.NewReader(c)
	readPrompt := func() string {
		var b strings.Builder
		for {
			line, err := r.ReadString(' ')
			b.WriteString(line)
			if err != nil {
				t.Fatalf("read: %v after %q", err, b.String())
			}
			if strings.HasSuffix(b.String(), "\n> ") {
				return b.String()
			}
		}
	}
	for _, tc := range []struct{ send, want string }{
		{"prompt\n", "\n> "},
		{"get weight be/s1\n", "3 (initial 3)\n\n> "},
		{"set weight be/s1 7;get weight be/s1\n", "\n> 7 (initial 3)\n\n> "},
	} {
		if _, err := io.WriteString(c, tc.send); err != nil {
			t.Fatal(err)
		}
		var got string
		for range strings.Count(tc.want, "\n> ") {
			got += readPrompt()
		}
		if got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.send, got, tc.want)
		}
	}
	// Leaving prompt mode answers and closes.
	_, _ = io.WriteString(c, "prompt\n")
	rest, err := io.ReadAll(r)
	if err != nil || string(rest) != "\n" {
		t.Errorf("after prompt off: %q %v", rest, err)
	}
}

func TestSocketLimits(t *testing.T) {
	// An idle client is dropped after the timeout, with nothing sent. A
	// server of its own has the short timeout: the checks below take
	// several steps, and on a loaded machine 200 ms could pass within
	// one (a holder's idle timeout expired before the third client's
	// check, which then saw a freed slot; a long line only half read when
	// the server gave up, so the client met a reset instead of the error).
	idle := sockets(t)
	idle.Timeout = 200 * time.Millisecond
	if got := request(t, startServer(t, newFake(), idle).Addrs()[0], ""); got != "" {
		t.Errorf("idle client got %q", got)
	}

	st := sockets(t) // the default 5 s timeout
	st.MaxConn = 2
	admin := startServer(t, newFake(), st).Addrs()[0]
	// A line longer than MaxLine: one error line, then closed.
	if got := request(t, admin, strings.Repeat("x", MaxLine+10)+"\n"); got != "Command line too long.\n" {
		t.Errorf("long line: %q", got)
	}
	// Two clients hold the two slots; a third is not served until one
	// leaves (it waits in the backlog).
	c1, c2 := dialAPI(t, admin), dialAPI(t, admin)
	_, _ = io.WriteString(c1, "prompt\n")
	_, _ = io.WriteString(c2, "prompt\n")
	for _, c := range []net.Conn{c1, c2} {
		b := make([]byte, 3)
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "\n> " {
			t.Fatalf("prompt: %q %v", b, err)
		}
	}
	c3 := dialAPI(t, admin)
	_, _ = io.WriteString(c3, "show cli level\n")
	_ = c3.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c3.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("third client served while two hold the slots (n=%d err=%v)", n, err)
	}
	_, _ = io.WriteString(c1, "quit\n")
	_ = c3.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(c3); err != nil || string(b) != "admin\n\n" {
		t.Errorf("third client after a slot freed: %q %v", b, err)
	}
}

func TestSocketFileReplacedAndRemoved(t *testing.T) {
	st := sockets(t)
	path := st.Sockets[0].Addr
	// A stale file at the path (a previous process's socket) is replaced.
	if err := os.WriteFile(path, []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Listen(st, newFake())
	if err != nil {
		t.Fatal(err)
	}
	s.Serve()
	if got := request(t, s.Addrs()[0], "show cli level\n"); got != "admin\n\n" {
		t.Errorf("got %q", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left after Close: %v", err)
	}
	// A path that cannot be bound fails Listen with the config line.
	st.Sockets = []config.StatsSocket{{Network: "unix", Addr: "/nonexistent/dir/x.sock", Where: config.Where{File: "cfg", Line: 3}}}
	if _, err := Listen(st, newFake()); err == nil || !strings.HasPrefix(err.Error(), "cfg:3: stats socket /nonexistent/dir/x.sock: ") {
		t.Errorf("bad path: %v", err)
	}
}
