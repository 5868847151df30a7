// Command rawepoll is the netmodels binary on the rawepoll engine: epoll
// through golang.org/x/sys, Ceph's EventCenter model (spec/cli.md).
package main

import (
	"os"

	"github.com/netmodels/netmodels/core/cli"
	rawepoll "github.com/netmodels/netmodels/impl-rawepoll"
)

func main() {
	os.Exit(cli.Main(cli.Engine{Name: "rawepoll", LibVersion: "epoll via golang.org/x/sys", New: rawepoll.New}))
}
