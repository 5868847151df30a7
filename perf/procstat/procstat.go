// Package procstat reads a process's user and system CPU time from
// /proc/<pid>/stat (utime and stime, fields 14 and 15, in clock ticks):
// the kernel/user split of the report's "where the time goes"; and its
// threads' voluntary context switches from /proc/<pid>/task/*/status.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
)

// ClockTick is USER_HZ, 100 on every Linux the harness runs on (the
// ticks of utime and stime).
const ClockTick = 100

// maxStat bounds what Parse reads: a stat line is a few hundred bytes;
// the command name inside it at most 64 (TASK_COMM_LEN is 16).
const maxStat = 4096

// Times is a process's CPU time so far, summed over its threads (live and
// exited), in clock ticks, and its live threads' voluntary context
// switches.
type Times struct {
	User, System int64
	// VolSwitches sums voluntary_ctxt_switches over the live threads: a
	// thread that blocks (a futex, epoll_wait, a read with nothing to
	// read, a sleep) and is woken again counts one, so per unit it counts
	// the wake-ups and thread hand-offs an I/O model costs. The kernel
	// keeps no such sum for exited threads, so a thread that exits
	// between two readings takes its switches with it (Go's threads and
	// HAProxy's stay for the process's life).
	VolSwitches int64
}

// Seconds converts ticks to seconds.
func Seconds(ticks int64) float64 { return float64(ticks) / ClockTick }

// Sub is t − u, field by field.
func (t Times) Sub(u Times) Times {
	return Times{User: t.User - u.User, System: t.System - u.System, VolSwitches: t.VolSwitches - u.VolSwitches}
}

// Parse decodes the contents of /proc/<pid>/stat. The command name (field
// 2) is in parentheses and may itself hold spaces and parentheses, so the
// fields are counted from the last ')'.
func Parse(b []byte) (Times, error) {
	if len(b) > maxStat {
		return Times{}, fmt.Errorf("procstat: %d bytes, more than a stat line's %d", len(b), maxStat)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Times{}, fmt.Errorf("procstat: no ')' after the command name")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime 15.
	if len(f) < 13 {
		return Times{}, fmt.Errorf("procstat: %d fields after the command name, want at least 13", len(f))
	}
	var t Times
	var err error
	if t.User, err = strconv.ParseInt(string(f[11]), 10, 64); err != nil || t.User < 0 {
		return Times{}, fmt.Errorf("procstat: utime %q", f[11])
	}
	if t.System, err = strconv.ParseInt(string(f[12]), 10, 64); err != nil || t.System < 0 {
		return Times{}, fmt.Errorf("procstat: stime %q", f[12])
	}
	return t, nil
}

// Read reads /proc/<pid>/stat and every /proc/<pid>/task/*/status.
func Read(pid int) (Times, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Times{}, fmt.Errorf("procstat: %w", err)
	}
	t, err := Parse(b)
	if err != nil {
		return Times{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return Times{}, fmt.Errorf("procstat: %w", err)
	}
	for _, e := range tasks {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/status")
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread exited meanwhile
		}
		if err != nil {
			return Times{}, fmt.Errorf("procstat: %w", err)
		}
		n, err := ParseVolSwitches(b)
		if err != nil {
			return Times{}, fmt.Errorf("pid %d task %s: %w", pid, e.Name(), err)
		}
		t.VolSwitches += n
	}
	return t, nil
}

// ParseVolSwitches finds voluntary_ctxt_switches in the contents of a
// /proc/<pid>/task/<tid>/status file.
func ParseVolSwitches(b []byte) (int64, error) {
	const key = "\nvoluntary_ctxt_switches:"
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, fmt.Errorf("procstat: no voluntary_ctxt_switches line")
	}
	line, _, _ := bytes.Cut(b[i+len(key):], []byte("\n"))
	n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("procstat: voluntary_ctxt_switches %q", bytes.TrimSpace(line))
	}
	return n, nil
}
