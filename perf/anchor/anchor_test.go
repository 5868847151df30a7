package anchor

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/supervise"
	"github.com/netmodels/netmodels/perf/loadgen"
	"github.com/netmodels/netmodels/perf/rawtcp"
)

func TestCephMonKeepalive(t *testing.T) {
	supervise.NoLeaks(t)
	if _, err := exec.LookPath("ceph-mon"); err != nil {
		t.Skip("ceph-mon not installed (the harness reports the cell absent)")
	}
	m, err := StartCephMon(t.TempDir(), -1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Stop(); err != nil {
			t.Error(err)
		}
	})
	r := loadgen.RunPingPong(context.Background(), loadgen.PingPong{Addr: m.Addr, Conns: 1, Protocol: "ka", MsgrProto: 15, Duration: 100 * time.Millisecond})
	if r.Err != "" || r.Ops == 0 {
		t.Fatalf("keepalive ping-pong with ceph-mon: %+v", r)
	}
	p := loadgen.RunPipeline(context.Background(), loadgen.Pipeline{Addr: m.Addr, Protocol: "ka", MsgrProto: 15, Window: 512, Batch: 64, Duration: 100 * time.Millisecond})
	if p.Err != "" || p.Ops == 0 {
		t.Fatalf("keepalive pipeline with ceph-mon: %+v", p)
	}
}

func TestHAProxyRelaysToRawServer(t *testing.T) {
	supervise.NoLeaks(t)
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Skip("haproxy not installed (the harness reports the cell absent)")
	}
	s, err := rawtcp.Listen("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	port, _ := FreePort()
	front := fmt.Sprintf("127.0.0.1:%d", port)
	text := fmt.Sprintf("global\n    maxconn 1000\ndefaults\n    mode tcp\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\nlisten echo\n    bind %s\n    server s1 %s\n", front, s.Echo.Addr())
	p, err := StartHAProxy(text, t.TempDir(), -1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
	r := loadgen.RunPingPong(context.Background(), loadgen.PingPong{Addr: front, Conns: 1, Size: 64, Duration: 100 * time.Millisecond})
	if r.Err != "" || r.Ops == 0 {
		t.Fatalf("ping-pong through haproxy: %+v", r)
	}
}
