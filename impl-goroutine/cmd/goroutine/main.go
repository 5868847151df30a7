// Command goroutine is the netmodels binary on the goroutine-per-connection
// engine (package net). Subcommands come from core/cli (spec/cli.md).
package main

import (
	"os"
	"runtime"

	"github.com/netmodels/netmodels/core/cli"
	goroutine "github.com/netmodels/netmodels/impl-goroutine"
)

func main() {
	os.Exit(cli.Main(cli.Engine{Name: "goroutine", LibVersion: "net " + runtime.Version(), New: goroutine.New}))
}
