// Package rawbench measures netpoll and package net without the engine, as
// floors for the engine kit's EchoRoundTrip in the same go test session:
//
//	go test -p 1 -run '^$' -bench . ./impl-netpoll/ ./impl-netpoll/internal/rawbench/
package rawbench

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/cloudwego/netpoll"
)

// BenchmarkRawNetpollEcho is netpoll used as Kitex uses it (EventLoop,
// OnRequest, Reader/Writer with a synchronous Flush), without the engine:
// the floor for the engine's EchoRoundTrip/1B on the same machine.
func BenchmarkRawNetpollEcho(b *testing.B) {
	_ = netpoll.SetNumLoops(2)
	ln, err := netpoll.CreateListener("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	evl, _ := netpoll.NewEventLoop(func(ctx context.Context, c netpoll.Connection) error {
		r, w := c.Reader(), c.Writer()
		p, _ := r.Next(r.Len())
		_, _ = w.WriteBinary(p)
		_ = r.Release()
		return w.Flush()
	})
	go evl.Serve(ln)
	defer evl.Shutdown(context.Background())
	back := make(chan struct{}, 1)
	c, err := netpoll.DialConnection("tcp", ln.Addr().String(), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	_ = c.SetOnRequest(func(ctx context.Context, c netpoll.Connection) error {
		r := c.Reader()
		_ = r.Skip(r.Len())
		_ = r.Release()
		back <- struct{}{}
		return nil
	})
	msg := []byte{1}
	for i := 0; i < b.N+100; i++ {
		if i == 100 {
			b.ResetTimer()
		}
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		<-back
	}
	_ = c.Close()
}

// BenchmarkRawNetEcho is the same ping-pong with package net and one
// goroutine per side: the floor for the goroutine engine.
func BenchmarkRawNetEcho(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 64)
		for {
			n, err := s.Read(buf)
			if err != nil {
				return
			}
			_, _ = s.Write(buf[:n])
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	msg := []byte{1}
	for i := 0; i < b.N+100; i++ {
		if i == 100 {
			b.ResetTimer()
		}
		_, _ = c.Write(msg)
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}
