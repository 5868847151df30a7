package supervise

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clkTck is USER_HZ, 100 on every Linux the harness runs on.
const clkTck = 100

// Usage is a process's CPU time and memory at one instant.
type Usage struct {
	// CPUSeconds is the on-CPU time summed over the process's threads
	// from /proc/<pid>/task/*/schedstat (nanoseconds, exact at every
	// context switch); TickCPUSeconds is utime+stime from
	// /proc/<pid>/stat, sampled at the 10 ms tick. The first is what the
	// report uses: a 0.2 s repetition is far below tick resolution. A
	// thread that exits between two readings takes its time with it, so
	// CPUDelta falls back to the ticks when the sum goes down.
	CPUSeconds     float64
	TickCPUSeconds float64
	RSSBytes       int64 // VmRSS
	PeakBytes      int64 // VmHWM: peak RSS since start
	Threads        int
}

// ErrNoProc means /proc has no such process (it exited).
var ErrNoProc = errors.New("no such process")

// Usage samples the child's /proc/<pid>/stat and status.
func (p *Proc) Usage() (Usage, error) { return ReadUsage(p.PID()) }

// ReadUsage samples /proc/<pid>/stat and /proc/<pid>/status.
func ReadUsage(pid int) (Usage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Usage{}, fmt.Errorf("read cpu of pid %d: %w", pid, ErrNoProc)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Usage{}, fmt.Errorf("read memory of pid %d: %w", pid, ErrNoProc)
	}
	u, err := ParseUsage(stat, status)
	if err != nil {
		return u, fmt.Errorf("pid %d: %w", pid, err)
	}
	if ns, ok := schedstatNanos(pid); ok {
		u.CPUSeconds = float64(ns) / 1e9
	}
	return u, nil
}

// ParseUsage reads a process's /proc/<pid>/stat and /proc/<pid>/status
// texts, wherever they were read (the perf harness reads a remote host's
// over SSH): CPUSeconds is the tick count, to be replaced by the
// schedstat sum where the caller has one.
func ParseUsage(stat, status []byte) (Usage, error) {
	var u Usage
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return u, fmt.Errorf("parse stat: no command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime 15.
	if len(f) < 13 {
		return u, fmt.Errorf("parse stat: %d fields", len(f))
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	u.TickCPUSeconds = float64(ut+st) / clkTck
	u.CPUSeconds = u.TickCPUSeconds
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fs[0], 10, 64)
		switch k {
		case "VmRSS":
			u.RSSBytes = n << 10
		case "VmHWM":
			u.PeakBytes = n << 10
		case "Threads":
			u.Threads = int(n)
		}
	}
	return u, nil
}

// schedstatNanos sums the first field (time on CPU, ns) of every thread's
// schedstat. It reports false when the kernel has no schedstat.
func schedstatNanos(pid int) (int64, bool) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, false
	}
	var total int64
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, false
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, false
		}
		total += v
	}
	return total, true
}

// CPUDelta is the CPU time used between two readings of one process.
func CPUDelta(before, after Usage) float64 {
	if d := after.CPUSeconds - before.CPUSeconds; d >= 0 {
		return d
	}
	return after.TickCPUSeconds - before.TickCPUSeconds
}
