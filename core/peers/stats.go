package peers

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Accounting for the perf harness, read from /proc so it costs the peer
// nothing: CPU time per unit of work is the steadiest figure on a shared
// machine (shared/research/proxy-anchors.md).

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// CPUTime is the CPU time (user + system) the peer has used so far, all
// threads included.
func (p *Process) CPUTime() (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.PID), "stat"))
	if err != nil {
		return 0, fmt.Errorf("peers: %s cpu time: %w", p.Name, err)
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("peers: %s cpu time: unexpected /proc stat %q", p.Name, b)
	}
	fs := strings.Fields(string(b[i+1:]))
	if len(fs) < 13 {
		return 0, fmt.Errorf("peers: %s cpu time: short /proc stat", p.Name)
	}
	var ticks int64
	for _, f := range fs[11:13] {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("peers: %s cpu time: %w", p.Name, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// RSS is the peer's resident set size in bytes.
func (p *Process) RSS() (int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.PID), "status"))
	if err != nil {
		return 0, fmt.Errorf("peers: %s rss: %w", p.Name, err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fs := strings.Fields(rest) // "1234 kB"
			if len(fs) == 2 && fs[1] == "kB" {
				kb, err := strconv.ParseInt(fs[0], 10, 64)
				if err == nil {
					return kb * 1024, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("peers: %s rss: no VmRSS in /proc status", p.Name)
}

// SetAffinity pins every thread of the peer to the given CPUs (as taskset
// would), e.g. to measure a path's cost with everything on one CPU.
// Threads the peer creates later inherit the mask of their creator.
func (p *Process) SetAffinity(cpus ...int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(p.PID), "task"))
	if err != nil {
		return fmt.Errorf("peers: %s affinity: %w", p.Name, err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("peers: %s affinity of thread %d to %v: %w", p.Name, tid, cpus, err)
		}
	}
	return nil
}
