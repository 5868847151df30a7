package loadgen

import (
	"fmt"
	"io"
	"net"
	"time"
)

// Idle opens N connections, proves each one is through (one 16-byte echo,
// so a proxy has its backend session up), and then holds them silent: the
// concurrency scenario measures the server's RSS per held session.
type Idle struct {
	Addr string
	N    int
}

// IdleConns are the held connections.
type IdleConns struct {
	conns []net.Conn
	Res   Result
}

// OpenIdle establishes the connections; on error it closes what it opened.
func OpenIdle(s Idle) *IdleConns {
	ic := &IdleConns{Res: Result{Kind: "idle", Addr: s.Addr, Conns: s.N, Size: 16}}
	start := time.Now()
	msg, in := []byte("0123456789abcdef"), make([]byte, 16)
	for i := 0; i < s.N; i++ {
		c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err = c.Write(msg); err == nil {
				_, err = io.ReadFull(c, in)
			}
			_ = c.SetDeadline(time.Time{})
			if err != nil {
				c.Close()
			}
		}
		if err != nil {
			ic.Res.Errors++
			ic.Res.Err = fmt.Sprintf("idle connection %d to %s: %v", i, s.Addr, err)
			ic.Close()
			break
		}
		ic.conns = append(ic.conns, c)
		ic.Res.Ops++
	}
	ic.Res.Finish(time.Since(start), nil)
	return ic
}

// Close closes every held connection.
func (ic *IdleConns) Close() {
	for _, c := range ic.conns {
		c.Close()
	}
	ic.conns = nil
}
