package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
)

// WindowEnv names the environment variable that lets a harness measure one
// window of a long-running subcommand from inside (spec/cli.md, "Measured
// windows"). Set to "stdin", the process reads one command per line from
// its standard input:
//
//	open [PROFILE_PATH [HZ]]  snapshot the counters; with a path, start a
//	                          CPU profile into it (HZ samples per CPU-second,
//	                          default WindowHZ)
//	close                     stop the profile (written and closed),
//	                          snapshot again, report the difference
//
// and answers each on stderr with one line holding "WINDOW SEQ " (SEQ
// counts the commands answered, from 1, so a harness finds its answer
// whatever else the process logs): "WINDOW 1 open", "WINDOW 2 close
// heap_alloc_bytes=B heap_alloc_objects=N gc_cycles=C goroutines_created=G" (the runtime/metrics
// counters' growth over the window), or "WINDOW 3 error MESSAGE". Unset (the default) nothing reads stdin and
// nothing is sampled: no cost. The perf harness uses it for its "where the
// time goes" figures: the CPU profile of one measured repetition and the
// allocations per message of every one, without the whole run's start-up
// and warm-up (which NETMODELS_CPUPROFILE includes).
const WindowEnv = "NETMODELS_WINDOW"

// WindowHZ is a window profile's default rate: one sample per millisecond
// of CPU, ten times runtime/pprof's 100 Hz, because a window is short (a
// 0.7 s repetition of a server using 0.3 cores holds 21 samples at 100 Hz,
// 210 at 1 kHz). Linux checks a thread's CPU-time timer at its scheduler
// tick, so fewer samples come than asked (one per tick at most); each is
// still a sample of where the CPU went. Each costs the profiled thread a
// signal and a stack walk, a few microseconds.
const WindowHZ = 1000

// maxWindowLine bounds a command line; a longer one is answered with an
// error and skipped.
const maxWindowLine = 4096

// windowCounters are the runtime/metrics a window reports, in answer order.
var windowCounters = []struct{ metric, name string }{
	{"/gc/heap/allocs:bytes", "heap_alloc_bytes"},
	{"/gc/heap/allocs:objects", "heap_alloc_objects"},
	{"/gc/cycles/total:gc-cycles", "gc_cycles"},
	// Goroutines started: the hand-offs an engine's model costs per unit
	// (a reader per connection, a task or drainer per event...).
	{"/sched/goroutines-created:goroutines", "goroutines_created"},
}

// window is the state of the measured-window protocol.
type window struct {
	mu      sync.Mutex
	out     io.Writer
	prefix  string
	open    bool
	seq     int // commands answered
	before  []uint64
	profile *os.File // the open window's CPU profile, or nil
}

// startWindows runs the window protocol on in when mode asks for it ("" =
// off); answers go to out, each line prefixed. The returned stop ends an
// open window's profile so it is written (the reader itself stays blocked
// in its read until the process exits: stdin is a blocking descriptor).
func startWindows(mode string, in io.Reader, out io.Writer, prefix string) (stop func(), err error) {
	switch mode {
	case "":
		return func() {}, nil
	case "stdin":
	default:
		return nil, fmt.Errorf("%s=%q: the only mode is \"stdin\"", WindowEnv, mode)
	}
	w := &window{out: out, prefix: prefix}
	go w.serve(in)
	return w.stop, nil
}

func (w *window) serve(in io.Reader) {
	r := bufio.NewReaderSize(in, maxWindowLine)
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			w.mu.Lock()
			w.answer("error command longer than %d bytes", maxWindowLine)
			w.mu.Unlock()
			for err == bufio.ErrBufferFull { // skip the rest of it
				_, err = r.ReadSlice('\n')
			}
			continue
		}
		if len(line) > 0 {
			w.command(strings.Fields(string(line)))
		}
		if err != nil {
			return // EOF: the harness closed stdin
		}
	}
}

func (w *window) answer(format string, args ...any) {
	w.seq++
	fmt.Fprintf(w.out, "%sWINDOW %d %s\n", w.prefix, w.seq, fmt.Sprintf(format, args...))
}

// command runs one command line (already split into fields).
func (w *window) command(f []string) {
	if len(f) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case f[0] == "open" && len(f) <= 3:
		if w.open {
			w.answer("error a window is already open")
			return
		}
		if len(f) >= 2 {
			hz := WindowHZ
			if len(f) == 3 {
				n, err := strconv.Atoi(f[2])
				if err != nil || n < 1 || n > 10000 {
					w.answer("error HZ %q: want 1 to 10000", f[2])
					return
				}
				hz = n
			}
			p, err := windowProfile(f[1], hz)
			if err != nil {
				w.answer("error %v", err)
				return
			}
			w.profile = p
		}
		w.open, w.before = true, readCounters()
		w.answer("open")
	case f[0] == "close" && len(f) == 1:
		if !w.open {
			w.answer("error no window is open")
			return
		}
		after := readCounters()
		err := w.endProfile()
		w.open = false
		if err != nil {
			w.answer("error %v", err)
			return
		}
		var b strings.Builder
		b.WriteString("close")
		for i, c := range windowCounters {
			fmt.Fprintf(&b, " %s=%d", c.name, after[i]-w.before[i])
		}
		w.answer("%s", b.String())
	default:
		w.answer("error unknown command %q (want: open [PROFILE_PATH [HZ]] | close)", strings.Join(f, " "))
	}
}

// stop ends an open window's profile when the command returns.
func (w *window) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.endProfile()
	w.open = false
}

func (w *window) endProfile() error {
	if w.profile == nil {
		return nil
	}
	pprof.StopCPUProfile()
	err := w.profile.Close()
	w.profile = nil
	return err
}

// windowProfile starts a window's CPU profile (a variable for the fuzz
// test, which must not create files where its input says).
var windowProfile = startWindowProfile

// startWindowProfile starts a CPU profile into path at hz. runtime/pprof
// always asks for 100 Hz, so the rate is set first: the runtime keeps it
// (and prints that it cannot change a running rate), and the profile's
// period comes from the runtime's own header, so it says hz.
func startWindowProfile(path string, hz int) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if hz != 100 {
		runtime.SetCPUProfileRate(hz)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		// Only when a profile is already running (NETMODELS_CPUPROFILE):
		// the rate above changed nothing then, and stopping it would end
		// that profile.
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return f, nil
}

// readCounters reads windowCounters (uint64 counters; 0 if the runtime
// lacks one).
func readCounters() []uint64 {
	s := make([]metrics.Sample, len(windowCounters))
	for i, c := range windowCounters {
		s[i].Name = c.metric
	}
	metrics.Read(s)
	out := make([]uint64, len(s))
	for i := range s {
		if s[i].Value.Kind() == metrics.KindUint64 {
			out[i] = s[i].Value.Uint64()
		}
	}
	return out
}
