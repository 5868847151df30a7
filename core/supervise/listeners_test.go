package supervise

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestListeners(t *testing.T) {
	var want []string
	for _, a := range []string{"127.0.0.1:0", "[::1]:0"} {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Logf("%s: %v", a, err) // no IPv6 here
			continue
		}
		defer ln.Close()
		want = append(want, ln.Addr().String())
	}
	path := filepath.Join(t.TempDir(), "s.sock")
	ul, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	// A connected socket is not listed.
	c, err := net.Dial("tcp", want[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tcp, unix, err := Listeners(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !slices.Contains(tcp, w) {
			t.Errorf("tcp listeners %q lack %s", tcp, w)
		}
	}
	if slices.Contains(tcp, c.LocalAddr().String()) {
		t.Errorf("tcp listeners %q list the connected %s", tcp, c.LocalAddr())
	}
	if !slices.Contains(unix, path) {
		t.Errorf("unix listeners %q lack %s", unix, path)
	}
	if _, _, err := Listeners(-1); err == nil {
		t.Error("Listeners(-1): no error")
	}
}
