// Command netpoll is the netmodels binary on the cloudwego/netpoll engine.
// Subcommands come from core/cli (spec/cli.md).
package main

import (
	"os"

	"github.com/netmodels/netmodels/core/cli"
	netpollengine "github.com/netmodels/netmodels/impl-netpoll"
)

func main() {
	os.Exit(cli.Main(cli.Engine{Name: "netpoll", LibVersion: "cloudwego/netpoll v0.7.2", New: netpollengine.New}))
}
