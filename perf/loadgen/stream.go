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
// frames of BufSize bytes for Duration, sends the end frame and reads back
// the 8-byte count of what the sink received (streamproto.go), so the
// figure is bytes delivered end to end, not bytes queued in socket
// buffers. Nothing depends on half-close: the client closes once it has
// the count.
type Stream struct {
	Addr    string
	Streams int
	// BufSize is the size of each write: one frame, its 8-byte header
	// included (StreamHeaderSize < BufSize <= StreamHeaderSize+MaxStreamFrame).
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
	return c, nil
}

// RunStream runs the streams in parallel.
func RunStream(ctx context.Context, s Stream) Result {
	res := Result{Kind: "stream", Addr: s.Addr, Conns: s.Streams, Size: s.BufSize}
	if s.TLS != nil {
		res.Kind = "tls-stream"
	}
	if s.BufSize <= StreamHeaderSize || s.BufSize > StreamHeaderSize+MaxStreamFrame {
		res.Err = fmt.Sprintf("stream: write size %d outside (%d, %d]", s.BufSize, StreamHeaderSize, StreamHeaderSize+MaxStreamFrame)
		res.Finish(0, nil)
		return res
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
	// Every write is the same whole frame: header, then a pattern.
	buf := make([]byte, s.BufSize)
	for i := range buf {
		buf[i] = byte(i)
	}
	PutStreamHeader(buf, s.BufSize-StreamHeaderSize)
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
			measured := int64(0)
			for wrote := false; ctx.Err() == nil && (!wrote || time.Now().Before(end)); wrote = true {
				n, err := c.Write(buf)
				measured += int64(n)
				if err != nil {
					errs[i] = err
					return
				}
			}
			// The end frame, then the sink's count; Close (deferred)
			// follows the count, so no side waits on a half-closed
			// connection.
			var fin, cnt [StreamHeaderSize]byte
			PutStreamHeader(fin[:], 0)
			if _, err := c.Write(fin[:]); err != nil {
				errs[i] = fmt.Errorf("end frame: %w", err)
				return
			}
			if _, err := io.ReadFull(c, cnt[:]); err != nil {
				errs[i] = fmt.Errorf("sink count: %w", err)
				return
			}
			// The sink saw the end frame, so it saw every byte before
			// it: a different count is a relay that lost or added bytes.
			if n := int64(binary.BigEndian.Uint64(cnt[:])); n != warm[i]+measured {
				errs[i] = fmt.Errorf("sink counted %d bytes, %d were sent", n, warm[i]+measured)
				return
			}
			got[i] = measured
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
