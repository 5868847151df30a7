package cpuprof

import (
	"fmt"
	"io"
	"strings"

	"github.com/google/pprof/profile"
)

// The "where the time goes" classes (issue 17), in report order. Kernel is
// never read from a profile: it is the process's system time from /proc
// (Split). The others classify a Go CPU profile's samples (Where).
const (
	Kernel   = "kernel"
	Sched    = "sched_netpoll"
	GC       = "gc_alloc"
	Syscall  = "syscall_entry"
	Protocol = "protocol"
	Engine   = "engine"
	Crypto   = "crypto"
)

// WhereClasses lists every class of the breakdown, Other last.
var WhereClasses = []string{Kernel, Sched, GC, Syscall, Protocol, Engine, Crypto, Other}

// Self-time classification. A sample is charged to the code that was
// running, not to everything on its stack (an inclusive rule would charge
// every sample to the engine's loop at the stack's root, and the shares
// would not add up to the CPU): Where walks each stack from the leaf up and
// the first frame that decides gives the class.
//
//  1. A leaf in a raw system call (syscallLeaf: the syscall package's and
//     x/sys/unix's wrappers, the runtime's own futex, epoll_wait, write,
//     mmap ... stubs) is syscall_entry. CPU profile timers count system
//     time too, and a signal taken in the kernel is delivered on the way
//     out of the system call, so these samples hold the kernel's time:
//     Split charges that to kernel and keeps only the rest here.
//  2. Frames of package runtime (and internal/runtime/...): a GC or
//     allocation function (gcFuncs: mallocgc, the mark workers and
//     assists, sweeping, scavenging, write barriers, stack growth) makes
//     the sample gc_alloc; entersyscall/exitsyscall (syscallFuncs) make it
//     syscall_entry; a helper (passFuncs: memmove, map and string
//     operations, hashing, lock/unlock ...) is charged to its caller, so
//     the walk goes on; any other runtime function (the scheduler, timers,
//     channels, semaphores, netpoll) marks the sample as the runtime's
//     and the walk goes on to look for a GC frame above it.
//  3. The first frame outside the runtime that is not a plain standard
//     library helper (bytes, sync, hash/crc32, io, ... are charged to
//     their caller) decides: if the runtime marked the sample, it is
//     sched_netpoll; else the frame's package gives the class (pkgRules:
//     net and internal/poll are sched_netpoll, crypto/ and math/big crypto,
//     syscall and x/sys/unix syscall_entry, core/msgr, core/proxy,
//     core/throttle and core/cli protocol, impl-*, core/engine and the I/O
//     libraries engine, anything else other).
//  4. A stack with no deciding frame is sched_netpoll when the runtime
//     marked it (the scheduler's own stacks), else other.
//
// The rules are tables below; perf/README.md and the report print them.

// syscallLeaf: raw system calls (entries ending in "$" are exact names,
// the others prefixes).
var syscallLeaf = []string{
	"syscall.", "golang.org/x/sys/unix.", "internal/syscall/unix.",
	"internal/runtime/syscall", "runtime/internal/syscall", // .Syscall6, /linux.Syscall6
	"runtime.futex$", "runtime.epollwait$", "runtime.epollctl$", "runtime.write1$", "runtime.read$",
	"runtime.usleep$", "runtime.nanosleep$", "runtime.osyield$", "runtime.madvise$", "runtime.mmap$",
	"runtime.sysMmap$", "runtime.munmap$", "runtime.sysMunmap$", "runtime.tgkill$", "runtime.raise$",
	"runtime.raiseproc$", "runtime.rtsigprocmask$", "runtime.rt_sigaction$", "runtime.sigaltstack$",
	"runtime.clone$", "runtime.sched_getaffinity$", "runtime.timer_settime$", "runtime.timer_create$",
	"runtime.timer_delete$", "runtime.setitimer$", "runtime.exit$", "runtime.exitThread$", "runtime.open$",
	"runtime.closefd$", "runtime.getpid$", "runtime.gettid$", "runtime.pipe2$", "runtime.fcntl$",
}

// syscallFuncs: the runtime's side of entering and leaving a system call.
var syscallFuncs = []string{
	"runtime.entersyscall", "runtime.reentersyscall", "runtime.exitsyscall",
}

// gcFuncs: function-name prefixes of the runtime's allocator and collector.
var gcFuncs = []string{
	"runtime.mallocgc", "runtime.newobject", "runtime.makeslice", "runtime.growslice", "runtime.makemap",
	"runtime.newarray", "runtime.rawbyteslice", "runtime.rawstring", "runtime.nextFreeFast",
	"runtime.(*mcache)", "runtime.(*mcentral)", "runtime.(*mheap)", "runtime.(*mspan)", "runtime.(*pageAlloc)",
	"runtime.(*gcWork)", "runtime.(*gcControllerState)", "runtime.(*gcCPULimiterState)", "runtime.(*sweepLocked)",
	"runtime.(*scavengerState)", "runtime.(*activeSweep)", "runtime.(*gcBits)", "runtime.(*markBits)",
	"runtime.gc", "runtime.scan", "runtime.greyobject", "runtime.markroot", "runtime.shade",
	"runtime.findObject", "runtime.heapSetType", "runtime.bulkBarrier", "runtime.wbBuf", "runtime.(*wbBuf)",
	"runtime.bgsweep", "runtime.sweepone", "runtime.bgscavenge", "runtime.deductAssistCredit",
	"runtime.morestack", "runtime.newstack", "runtime.copystack", "runtime.stackalloc", "runtime.stackfree",
	"runtime.memclrNoHeapPointersChunked", "runtime.sysAlloc", "runtime.sysUsed", "runtime.sysUnused",
	"runtime.persistentalloc", "runtime.mProf_Malloc", "runtime.profilealloc",
	"runtime.(*mallocHeader)", "runtime.heapBits", "runtime.typePointers", "runtime.(*typePointers)",
}

// passFuncs: runtime helpers charged to their caller.
var passFuncs = []string{
	"runtime.memmove", "runtime.memclrNoHeapPointers", "runtime.memclrHasPointers", "runtime.memequal",
	"runtime.memhash", "runtime.aeshash", "runtime.strhash", "runtime.nilinterhash", "runtime.interhash",
	"runtime.mapaccess", "runtime.mapassign", "runtime.mapdelete", "runtime.mapiter", "runtime.mapclear",
	"runtime.concatstring", "runtime.slicebytetostring", "runtime.stringtoslicebyte", "runtime.intstring",
	"runtime.convT", "runtime.convI", "runtime.assertE2I", "runtime.typeAssert", "runtime.getitab",
	"runtime.ifaceeq", "runtime.efaceeq", "runtime.cmpstring", "runtime.duffcopy", "runtime.duffzero",
	"runtime.typedmemmove", "runtime.typedmemclr", "runtime.typedslicecopy", "runtime.slicecopy",
	"runtime.lock$", "runtime.unlock$", "runtime.lock2$", "runtime.unlock2$", "runtime.lockWithRank$", "runtime.unlockWithRank$",
	"runtime.nanotime", "runtime.walltime", "runtime.procyield$", "runtime.add$", "runtime.panic",
	"runtime.rand", "runtime.cheaprand", "runtime.fastrand", "runtime.encoderune", "runtime.decoderune",
	"runtime.acquirem", "runtime.releasem", "runtime.getMCache",
	"internal/runtime/maps.", "internal/runtime/atomic.", "runtime/internal/atomic.",
	"internal/runtime/sys.", "runtime/internal/sys.", "internal/runtime/math.", "runtime/internal/math.",
}

// pkgRules: the class of a deciding frame outside the runtime, by package
// path (the path itself or below it), first match.
var pkgRules = []struct {
	pkg   string
	class string
}{
	{"crypto", Crypto},
	{"vendor/golang.org/x/crypto", Crypto},
	{"golang.org/x/crypto", Crypto},
	{"math/big", Crypto},
	{"net", Sched},
	{"internal/poll", Sched},
	{"syscall", Syscall},
	{"internal/syscall", Syscall},
	{"golang.org/x/sys/unix", Syscall},
	{"github.com/netmodels/netmodels/core/msgr", Protocol},
	{"github.com/netmodels/netmodels/core/proxy", Protocol},
	{"github.com/netmodels/netmodels/core/throttle", Protocol},
	{"github.com/netmodels/netmodels/core/cli", Protocol},
	{"github.com/netmodels/netmodels/core/engine", Engine},
	{"github.com/netmodels/netmodels/impl-", Engine}, // every impl-* module
	{"github.com/panjf2000/gnet", Engine},
	{"github.com/panjf2000/ants", Engine},
	{"github.com/cloudwego/netpoll", Engine},
	{"github.com/cloudwego/gopkg", Engine},
	{"github.com/bytedance/gopkg", Engine},
	{"gvisor.dev/gvisor", Engine},
}

// Rules describes the classification for documents (README, report):
// one line per class, prefixes marked with "…".
func Rules() []string {
	show := func(list []string) []string {
		var out []string
		for _, p := range list {
			if exact, ok := strings.CutSuffix(p, "$"); ok {
				out = append(out, exact)
			} else {
				out = append(out, p+"…")
			}
		}
		return out
	}
	pkgs := func(class string) []string {
		var out []string
		for _, r := range pkgRules {
			if r.class == class {
				out = append(out, r.pkg+"…")
			}
		}
		return out
	}
	line := func(class, lead string, what []string) string {
		return class + ": " + lead + strings.Join(what, ", ")
	}
	return []string{
		line(Syscall, "a leaf frame in ", show(syscallLeaf)) + "; any frame of " + strings.Join(show(syscallFuncs), ", ") + " or, deciding, of " + strings.Join(pkgs(Syscall), ", "),
		line(GC, "any runtime frame of ", show(gcFuncs)),
		line(Sched, "the rest of package runtime (scheduler, timers, channels, semaphores, netpoll) and the assembly context switches gogo, mcall, systemstack; deciding frames of ", pkgs(Sched)),
		line(Protocol, "deciding frames of ", pkgs(Protocol)),
		line(Engine, "deciding frames of ", pkgs(Engine)),
		line(Crypto, "deciding frames of ", pkgs(Crypto)),
		line("charged to their caller", "", append(show(passFuncs), "other assembly functions named without a package (memeqbody, …)", "the rest of the standard library (bytes, sync, io, hash/crc32, …)")),
		Other + ": any other deciding frame (prometheus, logging, main), or a stack with none",
	}
}

// hasAnyPrefix: s starts with one of prefixes, or equals one ending in
// "$" (without it).
func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if exact, ok := strings.CutSuffix(p, "$"); ok {
			if s == exact {
				return true
			}
		} else if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// PkgPath is the package path of a function name as pprof prints it
// ("github.com/a/b.(*T).m.func1" → "github.com/a/b"), generic type
// arguments ignored.
func PkgPath(fn string) string {
	if i := strings.IndexByte(fn, '['); i >= 0 {
		fn = fn[:i]
	}
	slash := strings.LastIndexByte(fn, '/')
	if dot := strings.IndexByte(fn[slash+1:], '.'); dot >= 0 {
		return fn[:slash+1+dot]
	}
	return fn
}

func isRuntime(pkg string) bool {
	return pkg == "runtime" || strings.HasPrefix(pkg, "runtime/") || strings.HasPrefix(pkg, "internal/runtime/")
}

// asmSched are runtime assembly functions that profiles name without a
// package ("gogo"): the scheduler's context switches. Other bare names
// (memeqbody, indexbytebody, aeshashbody) are helpers charged to their
// caller.
var asmSched = map[string]bool{"gogo": true, "mcall": true, "systemstack": true, "systemstack_switch": true}

// stdlib: the first path element of a standard-library package has no dot.
func stdlib(pkg string) bool {
	first, _, _ := strings.Cut(pkg, "/")
	return !strings.Contains(first, ".")
}

func pkgClass(pkg string) (string, bool) {
	for _, r := range pkgRules {
		if pkg == r.pkg || strings.HasPrefix(pkg, r.pkg+"/") ||
			(strings.HasSuffix(r.pkg, "-") && strings.HasPrefix(pkg, r.pkg)) {
			return r.class, true
		}
	}
	return "", false
}

// ClassifyStack gives the class of one stack (function names, leaf first).
func ClassifyStack(frames []string) string {
	if len(frames) == 0 {
		return Other
	}
	if hasAnyPrefix(frames[0], syscallLeaf) {
		return Syscall
	}
	inRuntime := false
	for _, fn := range frames {
		if !strings.ContainsAny(fn, "./") {
			inRuntime = inRuntime || asmSched[fn]
			continue
		}
		pkg := PkgPath(fn)
		if isRuntime(pkg) {
			switch {
			case hasAnyPrefix(fn, gcFuncs):
				return GC
			case hasAnyPrefix(fn, syscallFuncs):
				return Syscall
			case hasAnyPrefix(fn, passFuncs):
			default:
				inRuntime = true
			}
			continue
		}
		c, ok := pkgClass(pkg)
		if !ok && stdlib(pkg) {
			continue // a standard-library helper: charged to its caller
		}
		if inRuntime {
			return Sched
		}
		if !ok {
			return Other
		}
		return c
	}
	if inRuntime {
		return Sched
	}
	return Other
}

// Stack is one distinct stack of a profile: function names, leaf first
// (inlined calls as frames of their own), and its CPU time.
type Stack struct {
	Frames []string
	CPU    int64 // nanoseconds
}

// Profile is a CPU profile reduced to what the report uses.
type Profile struct {
	Stacks  []Stack
	Total   int64 // nanoseconds
	Samples int64
	// PeriodNS is the sampling period (1e6 at 1 kHz).
	PeriodNS int64
}

// Parse reads a Go CPU profile (pprof format).
func Parse(r io.Reader) (*Profile, error) {
	p, err := profile.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("cpuprof: %w", err)
	}
	vi, ci, err := sampleIndexes(p)
	if err != nil {
		return nil, err
	}
	out := &Profile{PeriodNS: p.Period}
	for _, s := range p.Sample {
		if vi >= len(s.Value) || (ci >= 0 && ci >= len(s.Value)) {
			return nil, fmt.Errorf("cpuprof: sample with %d values", len(s.Value))
		}
		st := Stack{CPU: s.Value[vi]}
		for _, loc := range s.Location {
			for _, ln := range loc.Line {
				name := "?"
				if ln.Function != nil {
					name = ln.Function.Name
				}
				st.Frames = append(st.Frames, name)
			}
		}
		out.Total += st.CPU
		if ci >= 0 {
			out.Samples += s.Value[ci]
		}
		out.Stacks = append(out.Stacks, st)
	}
	return out, nil
}

// Where classifies a profile's CPU by the where-the-time-goes rules.
func (p *Profile) Where() Breakdown {
	b := Breakdown{Total: p.Total, Samples: p.Samples, ByClass: map[string]int64{}}
	for _, s := range p.Stacks {
		b.ByClass[ClassifyStack(s.Frames)] += s.CPU
	}
	return b
}

// Split spreads cpu (the measured process's CPU per unit, any unit) over
// WhereClasses. kernelFrac is its system time's share of its CPU
// (/proc/<pid>/stat stime ÷ (utime + stime)), b the profile's breakdown.
//
// The profile's timers count system time as well, and its syscall_entry
// samples are where that time shows (rule 1 above). So kernel =
// kernelFrac × cpu; syscall_entry keeps what its samples hold beyond that
// (never below 0); the other classes share the rest of cpu in proportion
// to their samples. When the samples in system calls hold more than the
// kernel's time this is exactly "share of the profile × cpu" for every
// class but those two; when they hold less (system time spent elsewhere,
// page faults), the profiled classes are scaled down to the user time.
// Without a profile (b.Total 0: an anchor) the user time is all Other.
func Split(cpu, kernelFrac float64, b Breakdown) map[string]float64 {
	kernelFrac = min(max(kernelFrac, 0), 1)
	out := map[string]float64{Kernel: kernelFrac * cpu}
	user := cpu - out[Kernel]
	if b.Total <= 0 {
		out[Other] = user
		return out
	}
	sys := float64(b.ByClass[Syscall]) / float64(b.Total)
	out[Syscall] = max(sys-kernelFrac, 0) * cpu
	rest := user - out[Syscall]
	if sys >= 1 {
		return out
	}
	for _, c := range WhereClasses {
		if c == Kernel || c == Syscall {
			continue
		}
		out[c] = float64(b.ByClass[c]) / float64(b.Total) / (1 - sys) * rest
	}
	return out
}
