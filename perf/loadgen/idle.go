package loadgen

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Idle opens N connections, proves each one is through (one 16-byte echo,
// so a proxy has its backend session up), and then holds them silent: the
// concurrency scenario measures the server's RSS per held session.
type Idle struct {
	Addr string
	N    int
	// TLS, when set, makes every session a TLS client connection with this
	// config: a full handshake, then the echo through TLS.
	TLS *tls.Config
	// Parallel connections are opened at once (0 or 1: one after the
	// other); a TLS handshake's round trips make one-at-a-time slow.
	Parallel int
}

// IdleConns are the held connections.
type IdleConns struct {
	conns []net.Conn
	Res   Result
}

// OpenIdle establishes the connections; on error it closes what it opened.
func OpenIdle(s Idle) *IdleConns {
	ic := &IdleConns{Res: Result{Kind: "idle", Addr: s.Addr, Conns: s.N, Size: 16}}
	if s.TLS != nil {
		ic.Res.Kind = "tls-idle"
	}
	start := time.Now()
	conns := make([]net.Conn, s.N)
	errs := make([]error, s.N)
	next := make(chan int)
	// Stop handing out work at the first failure: the run is void.
	var failed atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < max(s.Parallel, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				conns[i], errs[i] = openOne(s)
				if errs[i] != nil {
					failed.Store(true)
				}
			}
		}()
	}
	for i := 0; i < s.N && !failed.Load(); i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, c := range conns {
		if errs[i] != nil {
			ic.Res.Errors++
			if ic.Res.Err == "" {
				ic.Res.Err = fmt.Sprintf("idle connection %d to %s: %v", i, s.Addr, errs[i])
			}
		}
		if c != nil {
			ic.conns = append(ic.conns, c)
			ic.Res.Ops++
		}
	}
	if ic.Res.Err != "" || len(ic.conns) < s.N {
		if ic.Res.Err == "" {
			ic.Res.Err = fmt.Sprintf("idle connections to %s: %d of %d opened", s.Addr, len(ic.conns), s.N)
		}
		ic.Close()
	}
	ic.Res.Finish(time.Since(start), nil)
	return ic
}

// openOne opens one session and proves it is through with a 16-byte echo.
func openOne(s Idle) (net.Conn, error) {
	var c net.Conn
	var err error
	if s.TLS != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err = dialTLS(ctx, s.Addr, s.TLS)
		cancel()
	} else {
		c, err = net.DialTimeout("tcp", s.Addr, 5*time.Second)
	}
	if err != nil {
		return nil, err
	}
	msg, in := []byte("0123456789abcdef"), make([]byte, 16)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err = c.Write(msg); err == nil {
		_, err = io.ReadFull(c, in)
	}
	_ = c.SetDeadline(time.Time{})
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close closes every held connection.
func (ic *IdleConns) Close() {
	for _, c := range ic.conns {
		c.Close()
	}
	ic.conns = nil
}
