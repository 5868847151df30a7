package proto2

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/msgr/wire"
	"github.com/netmodels/netmodels/core/msgr/wire2"
)

// TestRadosClientLive accepts a real Ceph C++ client (rados from Ceph
// 16.2, its MonClient dialling what it takes for a monitor, auth none)
// with our server state machine over a plain net.Conn: its banner, HELLO,
// AUTH_REQUEST (crc only: Ceph's AuthRegistry drops secure from
// ms_mon_client_mode for auth none), AUTH_SIGNATURE and CLIENT_IDENT must
// open the session, and its first MESSAGE must arrive with seq 1. rados
// is killed when the test ends; it is ceph-common's, which ceph-mon
// depends on.
func TestRadosClientLive(t *testing.T) {
	rados, err := exec.LookPath("rados")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI must run the real-peer test: install ceph-common with `make deps` as root)", err)
		}
		t.Skipf("rados is not installed (%v)", err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	dir := t.TempDir()
	conf := filepath.Join(dir, "ceph.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`[global]
mon_host = [v2:%s]
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
client_mount_timeout = 5
log_file = %s/client.log
debug_ms = 1
debug_monc = 10
`, addr, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, rados, "-c", conf, "--keyring", "/dev/null", "lspools")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "client.log"))
			t.Logf("rados output:\n%s\nclient log tail:\n%s", out.String(), tail(log, 40))
		}
	}()
	// Bounds on a client that never comes or hangs, not timing assertions.
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	me, _ := wire.ParseTypedAddr("v2:" + addr + "/0")
	peerAddr := wire.NewEntityAddr(netip.MustParseAddrPort(conn.RemoteAddr().String()), 0)
	peerAddr.Type = wire.AddrTypeMsgr2
	c, err := NewServer(ServerConfig{EntityType: wire.EntityMon, Addrs: []wire.EntityAddr{me}, PeerAddr: peerAddr,
		GlobalID: 4242, GlobalSeq: 1, Cookie: 1})
	if err != nil {
		t.Fatal(err)
	}
	var peer *Peer
	pumpConn(t, conn, c, func(e Event) bool {
		switch e.Kind {
		case EventEstablished:
			p := e.Peer
			peer = &p
		case EventMessage:
			if peer == nil || e.Seq != 1 {
				t.Fatalf("message %d, peer %v", e.Seq, peer)
			}
			if peer.Name.Type != wire.EntityClient || peer.AuthID != "admin" || peer.GlobalID != 4242 || !peer.Lossy ||
				peer.Features&wire2.FeatureMsgAddr2 == 0 || len(peer.Addrs) == 0 || peer.Addrs[0].IP != peerAddr.IP {
				t.Errorf("peer %+v", *peer)
			}
			t.Logf("rados opened the session as %s from %s and sent message type %d", peer.Name, peer.Addrs[0].TypedString(), e.Message.Header.Type)
			return true
		}
		return false
	})
}

func tail(b []byte, n int) string {
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
