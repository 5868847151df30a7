package rawtcp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/netmodels/netmodels/perf/loadgen"
)

func startServer(t *testing.T) *Server {
	t.Helper()
	s, err := Listen("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func header(n uint64) []byte {
	var b [loadgen.StreamHeaderSize]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

func frames(sizes ...int) []byte {
	var b []byte
	for _, n := range sizes {
		b = append(b, header(uint64(n))...)
		b = append(b, bytes.Repeat([]byte{0xab}, n)...)
	}
	return b
}

// The sink answers its count after the end frame and only then; what it
// does with a stream that is not the protocol is to close unanswered.
func TestSinkAnswers(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name     string
		send     []byte
		shutWr   bool  // half-close after send (a stream cut short)
		want     int64 // the count; -1: no answer
		waitsEOF bool  // after answering, the sink waits for our close
	}{
		{"end frame only", frames(0), false, 0, true},
		{"frames then end", frames(10, 1000, 65536, 0), false, 8 + 10 + 8 + 1000 + 8 + 65536, true},
		{"a big frame in small pieces", frames(loadgen.MaxStreamFrame, 0), false, 8 + loadgen.MaxStreamFrame, true},
		{"EOF before the end frame", frames(10), true, -1, false},
		{"header above the bound", append(header(loadgen.MaxStreamFrame+1), 1, 2, 3), false, -1, false},
		{"old unframed stream", []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, false, -1, false},
		{"bytes after the end frame", append(frames(4, 0), 'x'), false, -1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", s.Sink.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			if tc.shutWr {
				_ = c.(*net.TCPConn).CloseWrite()
			}
			var cnt [8]byte
			_, err = io.ReadFull(c, cnt[:])
			if tc.want < 0 {
				if err == nil {
					t.Fatalf("sink answered %d to a stream outside the protocol", binary.BigEndian.Uint64(cnt[:]))
				}
				return
			}
			if err != nil {
				t.Fatalf("no count: %v", err)
			}
			if got := int64(binary.BigEndian.Uint64(cnt[:])); got != tc.want {
				t.Fatalf("count %d, want %d", got, tc.want)
			}
			// The sink closes after us, not before: a read meets our
			// deadline, not its EOF (a wrong close shows at once).
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, err := c.Read(cnt[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("after the count: %v, want the sink still open", err)
			}
		})
	}
}

// closingRelay relays TCP both ways and, like gnet, closes both sides as
// soon as either reads EOF: no half-close crosses it.
func closingRelay(t *testing.T, to string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			a, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", to)
			if err != nil {
				a.Close()
				continue
			}
			var once sync.Once
			closeBoth := func() { once.Do(func() { a.Close(); b.Close() }) }
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(b, a); closeBoth() }()
			go func() { defer wg.Done(); _, _ = io.Copy(a, b); closeBoth() }()
		}
	}()
	return ln.Addr().String()
}

// The bulk stream through a relay without half-close: the gnet case that
// had no throughput number when the stream ended with the client's FIN.
func TestStreamWithoutHalfClose(t *testing.T) {
	s := startServer(t)
	addr := closingRelay(t, s.Sink.Addr().String())
	for _, streams := range []int{1, 3} {
		r := loadgen.RunStream(context.Background(), loadgen.Stream{Addr: addr, Streams: streams, BufSize: 64 << 10,
			Warmup: 10 * time.Millisecond, Duration: 50 * time.Millisecond})
		if r.Err != "" || r.Errors != 0 {
			t.Fatalf("%d streams: %s (%d errors)", streams, r.Err, r.Errors)
		}
		if r.Bytes < int64(streams)*64<<10 || r.Bytes%(64<<10) != 0 || len(r.PerConn) != streams {
			t.Fatalf("%d streams: %d bytes over %d connections, want whole 64 KiB writes on each", streams, r.Bytes, len(r.PerConn))
		}
	}
}

// RunStream refuses a write size that cannot be a frame, and reports a
// sink that answers a different count (bytes lost on the way).
func TestStreamChecks(t *testing.T) {
	s := startServer(t)
	for _, size := range []int{0, loadgen.StreamHeaderSize, loadgen.StreamHeaderSize + loadgen.MaxStreamFrame + 1} {
		if r := loadgen.RunStream(context.Background(), loadgen.Stream{Addr: s.Sink.Addr().String(), Streams: 1, BufSize: size}); r.Err == "" {
			t.Errorf("write size %d: no error", size)
		}
	}
	// A sink that counts one byte short.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var d loadgen.StreamDecoder
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if _, done, _ := d.Feed(buf[:n]); done {
				break
			}
			if err != nil {
				return
			}
		}
		_, _ = c.Write(header(uint64(d.Count() - 1)))
		_, _ = io.Copy(io.Discard, c)
	}()
	r := loadgen.RunStream(context.Background(), loadgen.Stream{Addr: ln.Addr().String(), Streams: 1, BufSize: 4096})
	if r.Err == "" || r.Bytes != 0 {
		t.Fatalf("short count accepted: %+v", r)
	}
}
