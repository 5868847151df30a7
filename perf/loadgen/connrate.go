package loadgen

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"
)

// TxnSize is the request and the reply of one connection-rate transaction;
// rawtcp's txn listener reads exactly this much, answers and closes.
const TxnSize = 16

// ConnRate configures the connection-rate run (proxy-anchors.md §c): each
// of Loops loops connects, writes TxnSize bytes, reads TxnSize bytes and the
// server's FIN, and closes, for Duration. Latency is per transaction,
// connect through close.
//
// The server closes first, as an HTTP/1.0 server does, so TIME_WAIT lands
// on the listening side of every hop: the client's and a proxy's outgoing
// connections end in passive close and their ephemeral ports never fill
// with TIME_WAIT sockets. When the client closed first, connect() got
// slower as TIME_WAIT sockets piled up over the run (about 100k after a
// few scenarios) and the rate drifted down repetition by repetition
// (direct: 14.5k -> 11k conn/s over 15 repetitions), a history effect the
// anchors and engines did not share alike.
type ConnRate struct {
	Addr     string
	Loops    int
	Warmup   time.Duration
	Duration time.Duration
}

func oneTransaction(addr string, msg, in []byte) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, in); err != nil {
		return err
	}
	// The server's FIN: only then is this side's close a passive one.
	var extra [1]byte
	if n, err := c.Read(extra[:]); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("%d byte(s) after the %d-byte reply, want EOF", n, TxnSize)
		}
		return fmt.Errorf("waiting for the server to close: %w", err)
	}
	return nil
}

// RunConnRate runs the loops, each measuring at least one transaction.
func RunConnRate(ctx context.Context, r ConnRate) Result {
	res := Result{Kind: "connrate", Addr: r.Addr, Conns: r.Loops, Size: TxnSize}
	start := time.Now().Add(r.Warmup)
	end := start.Add(r.Duration)
	hs := closedLoops(ctx, &res, r.Loops, start, end, "transaction with "+r.Addr, func() func() (time.Time, error) {
		msg, in := []byte("0123456789abcdef"), make([]byte, TxnSize)
		return func() (time.Time, error) {
			err := oneTransaction(r.Addr, msg, in)
			return time.Now(), err
		}
	})
	res.Bytes = res.Ops * TxnSize
	res.Finish(time.Since(start), hs.all)
	return res
}
