package cli

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// ProfileEnv names the environment variable that turns on a CPU profile of
// the whole subcommand: when it holds a path, the process writes a pprof
// CPU profile there (runtime/pprof, 100 Hz) from before the subcommand
// starts until it returns. Opt-in and off by default; the perf harness
// sets it on a proxy to see where its handshake time goes (share of CPU
// under crypto/rsa), read with `go tool pprof`. The profile is written only
// when the command returns (SIGTERM, SIGINT, or its own end), not on a
// crash or SIGKILL.
const ProfileEnv = "NETMODELS_CPUPROFILE"

// startProfile starts the CPU profile path asks for ("" = none) and returns
// the function that stops it and closes the file.
func startProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", ProfileEnv, err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("%s: %w", ProfileEnv, err)
		}
		return nil
	}, nil
}
