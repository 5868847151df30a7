package supervise

import (
	"fmt"
	"os/exec"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// spawnReqs carries fork requests to the spawner goroutine.
var (
	spawnReqs chan func()
	spawnOnce sync.Once
)

// spawner runs every fork on one OS thread that never exits. Pdeathsig is
// tied to the thread that forked the child: were that thread to end (the
// runtime ends a thread whose goroutine exits while locked to it), the
// kernel would SIGKILL the child although this process lives on. Locking
// this goroutine and never returning keeps its thread for the life of the
// process.
func spawner() {
	runtime.LockOSThread() // never unlocked, on purpose (see above)
	for f := range spawnReqs {
		f()
	}
}

// startOnSpawner starts cmd from the spawner thread. With cpus, the thread
// takes that affinity for the fork only, so the child starts pinned (as
// under taskset, but with no extra exec: threads it makes inherit the
// mask from the start) and the spawner's own mask is restored after.
func startOnSpawner(cmd *exec.Cmd, cpus []int) error {
	spawnOnce.Do(func() {
		spawnReqs = make(chan func())
		go spawner()
	})
	errc := make(chan error, 1)
	spawnReqs <- func() { errc <- startPinned(cmd, cpus) }
	return <-errc
}

func startPinned(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) == 0 {
		return cmd.Start()
	}
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return fmt.Errorf("read affinity: %w", err)
	}
	for _, c := range cpus {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to CPUs %v: %w", cpus, err)
	}
	err := cmd.Start()
	// Restoring the mask this thread had a moment ago cannot fail; were it
	// to, later forks would only start narrower, the child is unaffected.
	_ = unix.SchedSetaffinity(0, &old)
	return err
}
