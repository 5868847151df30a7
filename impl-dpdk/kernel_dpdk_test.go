//go:build dpdk

package dpdkengine

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

type echoHandler struct{ engine.BaseHandler }

func (echoHandler) OnData(c engine.Conn, in []byte) int {
	if err := c.Write(in); err != nil {
		return 0
	}
	return len(in)
}

// TestKernelClientEcho: a kernel-stack client in the namespace dials the
// engine over the tap; sizes from 1 B to 1 MiB come back intact.
func TestKernelClientEcho(t *testing.T) {
	e, err := New(engine.Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Shutdown(t.Context()) })
	ln, err := e.Listen("0.0.0.0:0", func(engine.Conn) engine.Handler { return echoHandler{} })
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if host, _, _ := net.SplitHostPort(addr); host != stackAddr {
		t.Fatalf("listener address %s, want host %s", addr, stackAddr)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	for _, n := range []int{1, 7, 1460, 1461, 65536, 100000, 1 << 20} {
		want := bytes.Repeat([]byte{byte(n)}, n)
		go func() { _, _ = c.Write(want) }()
		got := make([]byte, n)
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("size %d: echo differs", n)
		}
	}
	t.Logf("link: %+v", runtimeEndpoint().Stats())
}
