//go:build !dpdk

package main

import (
	"os"
	"testing"

	"github.com/netmodels/netmodels/core/cli"
)

// TestWithoutDPDK: a build without the dpdk tag refuses every command but
// version and help with exit 2.
func TestWithoutDPDK(t *testing.T) {
	saved := os.Args
	defer func() { os.Args = saved }()
	os.Args = []string{"dpdk", "msgr-server", "--listen=127.0.0.1:0"}
	if code := run(); code != cli.ExitUsage {
		t.Fatalf("exit %d, want %d", code, cli.ExitUsage)
	}
}
