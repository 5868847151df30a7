package peers

import (
	"strings"
	"testing"
	"time"
)

// A real OSD joins a fresh mon's cluster, listed in the OSD map at the
// address and nonce StartCephOSD reports, and stores what rados writes.
func TestCephOSDStoresAnObject(t *testing.T) {
	mon := StartCephMonT(t, CephMonOptions{})
	osd, err := StartCephOSD(mon, CephOSDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = osd.Stop() }) // killed below: its exit status says nothing
	if !strings.HasPrefix(osd.Addr, "127.0.0.1:") || osd.Nonce == 0 {
		t.Errorf("OSD map entry %s/%d, want 127.0.0.1:PORT and a nonce", osd.Addr, osd.Nonce)
	}
	if _, err := mon.Rados(30*time.Second, "-p", osd.Pool, "put", "obj", mon.ConfPath); err != nil {
		t.Fatal(err)
	}
	out, err := mon.Rados(30*time.Second, "-p", osd.Pool, "stat", "obj")
	if err != nil || !strings.Contains(out, "obj mtime") {
		t.Fatalf("rados stat: %q, %v", out, err)
	}
	// Killed, it stays listed as up at the same address: a stand-in can
	// take its place.
	osd.Kill()
	<-osd.Done()
	addr, nonce := osd.Addr, osd.Nonce
	if err := osd.readAddr(); err != nil || osd.Addr != addr || osd.Nonce != nonce {
		t.Fatalf("after Kill: %s/%d (%v), want %s/%d up", osd.Addr, osd.Nonce, err, addr, nonce)
	}
}
