// Command gnet is the netmodels binary on the gnet v2 engine (spec/cli.md).
package main

import (
	"os"

	gnetengine "github.com/netmodels/netmodels/impl-gnet"

	"github.com/netmodels/netmodels/core/cli"
)

func main() {
	os.Exit(cli.Main(cli.Engine{Name: "gnet", LibVersion: gnetengine.LibVersion, New: gnetengine.New}))
}
