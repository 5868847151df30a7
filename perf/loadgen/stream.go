package loadgen

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Stream configures bulk one-way throughput to a sink: each stream writes
// for Duration, half-closes, and reads back the 8-byte count of what the
// sink received (the raw server's sink protocol), so the figure is bytes
// delivered end to end, not bytes queued in socket buffers.
type Stream struct {
	Addr     string
	Streams  int
	BufSize  int
	Warmup   time.Duration
	Duration time.Duration
	// TLS, when set, makes every stream a TLS client connection with this
	// config (handshake before the warm-up starts); the count comes back
	// through TLS too.
	TLS *tls.Config
}

// streamConn is a stream's connection: plain TCP or TLS over it.
type streamConn interface {
	Write(b []byte) (int, error)
	Read(b []byte) (int, error)
	CloseWrite() error
	SetDeadline(t time.Time) error
	Close() error
}

func dialStream(ctx context.Context, s Stream) (streamConn, error) {
	if s.TLS == nil {
		c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		return c.(*net.TCPConn), nil
	}
	c, err := dialTLS(ctx, s.Addr, s.TLS)
	if err != nil {
		return nil, err
	}
	return tlsStreamConn{Conn: c, tcp: c.NetConn().(*net.TCPConn)}, nil
}

// RunStream runs the streams in parallel.
func RunStream(ctx context.Context, s Stream) Result {
	res := Result{Kind: "stream", Addr: s.Addr, Conns: s.Streams, Size: s.BufSize}
	if s.TLS != nil {
		res.Kind = "tls-stream"
	}
	conns := make([]streamConn, s.Streams)
	for i := range conns {
		c, err := dialStream(ctx, s)
		if err != nil {
			res.Err = fmt.Sprintf("connect %s: %v", s.Addr, err)
			for _, c := range conns[:i] {
				c.Close()
			}
			res.Finish(0, nil)
			return res
		}
		conns[i] = c
	}
	buf := make([]byte, s.BufSize)
	for i := range buf {
		buf[i] = byte(i)
	}
	// Warm-up: write for Warmup on every stream; those bytes are in the
	// sink's count and are subtracted below.
	warm := make([]int64, s.Streams)
	start := time.Now()
	warmEnd := start.Add(s.Warmup)
	end := warmEnd.Add(s.Duration)
	var wg sync.WaitGroup
	got := make([]int64, s.Streams)
	errs := make([]error, s.Streams)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			for time.Now().Before(warmEnd) && ctx.Err() == nil {
				n, err := c.Write(buf)
				warm[i] += int64(n)
				if err != nil {
					errs[i] = err
					return
				}
			}
			_ = c.SetDeadline(end.Add(30 * time.Second))
			// At least one write is measured (MinOneSample).
			for wrote := false; ctx.Err() == nil && (!wrote || time.Now().Before(end)); wrote = true {
				if _, err := c.Write(buf); err != nil {
					errs[i] = err
					return
				}
			}
			if err := c.CloseWrite(); err != nil {
				errs[i] = err
				return
			}
			var cnt [8]byte
			if _, err := io.ReadFull(c, cnt[:]); err != nil {
				errs[i] = fmt.Errorf("sink count: %w", err)
				return
			}
			got[i] = int64(binary.BigEndian.Uint64(cnt[:])) - warm[i]
		}()
	}
	wg.Wait()
	elapsed := time.Since(warmEnd)
	for i := range got {
		if errs[i] != nil {
			res.Errors++
			if res.Err == "" {
				res.Err = fmt.Sprintf("stream %d to %s: %v", i, s.Addr, errs[i])
			}
			continue
		}
		res.Bytes += got[i]
		res.PerConn = append(res.PerConn, float64(got[i])/elapsed.Seconds())
	}
	res.Ops = res.Bytes / int64(max(s.BufSize, 1))
	res.Finish(elapsed, nil)
	return res
}
