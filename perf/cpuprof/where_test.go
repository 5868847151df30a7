package cpuprof

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

const nm = "github.com/netmodels/netmodels/"

func TestClassifyStack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		frames []string // leaf first
		want   string
	}{
		{"send in the kernel", []string{"internal/runtime/syscall.Syscall6", "syscall.Syscall", "syscall.write", "internal/poll.(*FD).Write", "net.(*conn).Write", nm + "impl-goroutine.(*conn).Write"}, Syscall},
		{"epoll_wait as Go 1.26 names it", []string{"internal/runtime/syscall/linux.Syscall6", "internal/runtime/syscall/linux.EpollWait", "runtime.netpoll", "runtime.findRunnable"}, Syscall},
		{"context switch (bare assembly name)", []string{"gogo", nm + "impl-goroutine.(*conn).run"}, Sched},
		{"bare assembly helper", []string{"memeqbody", nm + "core/msgr.(*Messenger).lookup"}, Protocol},
		{"x/sys/unix write in gnet", []string{"golang.org/x/sys/unix.Syscall", "golang.org/x/sys/unix.write", "github.com/panjf2000/gnet/v2.(*conn).write"}, Syscall},
		{"scheduler's futex", []string{"runtime.futex", "runtime.futexsleep", "runtime.notesleep", "runtime.stopm", "runtime.findRunnable", "runtime.schedule"}, Syscall},
		{"entersyscall", []string{"runtime.casgstatus", "runtime.reentersyscall", "runtime.entersyscall", "syscall.Syscall"}, Syscall},
		{"runtime.ready is not runtime.read", []string{"runtime.ready", "runtime.goready", nm + "impl-goroutine.(*loop).wake"}, Sched},
		{"scheduler", []string{"runtime.runqgrab", "runtime.runqsteal", "runtime.findRunnable", "runtime.schedule", "runtime.park_m", "runtime.mcall"}, Sched},
		{"netpoll wait", []string{"runtime.netpoll", "runtime.findRunnable"}, Sched},
		{"net package", []string{"net.(*netFD).Read", "net.(*conn).Read", nm + "impl-goroutine.(*conn).readLoop"}, Sched},
		{"internal/poll", []string{"internal/poll.(*fdMutex).rwlock", "internal/poll.(*FD).readLock", "internal/poll.(*FD).Read"}, Sched},
		{"channel send", []string{"runtime.chansend", "runtime.chansend1", nm + "core/msgr.(*Connection).queue"}, Sched},
		{"mutex contention", []string{"runtime.semacquire1", "internal/sync.(*Mutex).lockSlow", "sync.(*Mutex).Lock", nm + "core/msgr.(*Messenger).lookup"}, Sched},
		{"malloc", []string{"runtime.mallocgc", "runtime.makeslice", nm + "core/msgr/wire.Decode"}, GC},
		{"memclr under malloc", []string{"runtime.memclrNoHeapPointers", "runtime.mallocgcLarge", "runtime.mallocgc", "runtime.makeslice", nm + "core/proxy.newSession"}, GC},
		{"unknown runtime leaf under GC", []string{"runtime.spanOfUnchecked", "runtime.greyobject", "runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"}, GC},
		{"lock in the heap", []string{"runtime.lock2", "runtime.(*mheap).alloc", "runtime.(*mcentral).grow"}, GC},
		{"stack growth", []string{"runtime.copystack", "runtime.newstack", "runtime.morestack"}, GC},
		{"write barrier", []string{"runtime.wbBufFlush1", "runtime.wbBufFlush", "runtime.gcWriteBarrier2", nm + "core/proxy.(*session).relay"}, GC},
		{"memmove charged to the proxy", []string{"runtime.memmove", nm + "core/proxy.(*session).relay"}, Protocol},
		{"crc32 charged to msgr", []string{"hash/crc32.ieeeCLMUL", "hash/crc32.Update", nm + "core/msgr/wire.(*Frame).Sign"}, Protocol},
		{"bytes helper, map, then the engine", []string{"internal/runtime/maps.(*Map).getWithKeySmall", "runtime.mapaccess2", "bytes.(*Buffer).Write", nm + "impl-rawepoll.(*loop).run"}, Engine},
		{"core/engine", []string{nm + "core/engine.(*Buffer).Grow"}, Engine},
		{"echo service", []string{nm + "core/cli.(*echoServer).Dispatch"}, Protocol},
		{"throttle", []string{nm + "core/throttle.(*Bytes).Get"}, Protocol},
		{"cloudwego netpoll", []string{"github.com/cloudwego/netpoll.(*defaultPoll).Wait"}, Engine},
		{"gvisor", []string{"gvisor.dev/gvisor/pkg/tcpip/stack.(*NIC).DeliverNetworkPacket"}, Engine},
		{"crypto", []string{"crypto/internal/fips140/aes/gcm.gcmAesEnc", "crypto/tls.(*Conn).Write", nm + "core/proxy.(*tlsConn).Write"}, Crypto},
		{"memmove in crypto", []string{"runtime.memmove", "crypto/tls.(*Conn).readRecord"}, Crypto},
		{"rsa bignum", []string{"math/big.addMulVVW", "crypto/rsa.decrypt"}, Crypto},
		{"prometheus", []string{"github.com/prometheus/client_golang/prometheus.(*counter).Inc", nm + "core/proxy.(*session).close"}, Other},
		{"generic type argument with a slash", []string{"slices.SortFunc[go.shape.[]github.com/a/b.T]", nm + "core/proxy.(*config).sort"}, Protocol},
		{"only helpers", []string{"runtime.memmove", "sync/atomic.(*Int64).Add"}, Other},
		{"empty", nil, Other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClassifyStack(tc.frames); got != tc.want {
				t.Errorf("ClassifyStack(%v) = %s, want %s", tc.frames, got, tc.want)
			}
		})
	}
}

func TestPkgPath(t *testing.T) {
	for in, want := range map[string]string{
		"runtime.mallocgc":                         "runtime",
		"github.com/a/b.(*T).m.func1":              "github.com/a/b",
		"github.com/panjf2000/gnet/v2.(*conn).Fd":  "github.com/panjf2000/gnet/v2",
		"slices.Sort[go.shape.[]github.com/a/b.T]": "slices",
		"internal/runtime/maps.(*Map).Get":         "internal/runtime/maps",
		"main.main":                                "main",
		"noDot":                                    "noDot",
	} {
		if got := PkgPath(in); got != want {
			t.Errorf("PkgPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWhere(t *testing.T) {
	b := fakeProfile(t, [][]string{
		{"syscall.Syscall6", "internal/poll.(*FD).Write"},
		{"runtime.mallocgc", nm + "core/msgr.(*Connection).read"},
		{nm + "core/msgr/wire.Decode"},
		{"runtime.findRunnable", "runtime.schedule"},
	}, []int64{40e6, 10e6, 30e6, 20e6})
	p, err := Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if p.PeriodNS != 10e6 || p.Total != 100e6 || len(p.Stacks) != 4 || p.Stacks[1].Frames[0] != "runtime.mallocgc" {
		t.Fatalf("parsed %+v", p)
	}
	w := p.Where()
	for class, want := range map[string]int64{Syscall: 40e6, GC: 10e6, Protocol: 30e6, Sched: 20e6, Engine: 0} {
		if w.ByClass[class] != want {
			t.Errorf("%s: %d ns, want %d", class, w.ByClass[class], want)
		}
	}
	if _, err := Parse(strings.NewReader("no profile")); err == nil {
		t.Error("garbage: no error")
	}
}

func TestSplit(t *testing.T) {
	prof := Breakdown{Total: 100, ByClass: map[string]int64{Syscall: 40, Protocol: 30, GC: 10, Sched: 20}}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	for _, tc := range []struct {
		name       string
		cpu, kfrac float64
		b          Breakdown
		want       map[string]float64
	}{
		// Syscall samples (40 %) hold more than the kernel (30 %): the
		// other classes keep their profile shares.
		{"syscalls hold the kernel", 10, 0.3, prof, map[string]float64{Kernel: 3, Syscall: 1, Protocol: 3, GC: 1, Sched: 2}},
		// Kernel 50 % > syscall samples 40 %: syscall_entry 0, the user
		// half shared by the other classes' samples (30:10:20).
		{"kernel beyond the syscalls", 12, 0.5, prof, map[string]float64{Kernel: 6, Syscall: 0, Protocol: 3, GC: 1, Sched: 2}},
		{"anchor: no profile", 10, 0.25, Breakdown{}, map[string]float64{Kernel: 2.5, Other: 7.5}},
		{"fraction clamped", 10, 1.5, prof, map[string]float64{Kernel: 10, Syscall: 0, Protocol: 0}},
		{"all in syscalls", 10, 0.2, Breakdown{Total: 5, ByClass: map[string]int64{Syscall: 5}}, map[string]float64{Kernel: 2, Syscall: 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Split(tc.cpu, tc.kfrac, tc.b)
			sum := 0.0
			for _, v := range got {
				sum += v
			}
			if !near(sum, tc.cpu) {
				t.Errorf("classes sum to %v, want %v: %v", sum, tc.cpu, got)
			}
			for c, w := range tc.want {
				if !near(got[c], w) {
					t.Errorf("%s = %v, want %v (%v)", c, got[c], w, got)
				}
			}
		})
	}
}

func TestRules(t *testing.T) {
	r := strings.Join(Rules(), "\n")
	for _, want := range []string{"runtime.futex,", "runtime.mallocgc…", "core/msgr…", "impl-…", "gvisor.dev/gvisor…", "hash/crc32"} {
		if !strings.Contains(r, want) {
			t.Errorf("rules text lacks %q:\n%s", want, r)
		}
	}
}

// FuzzParse: whatever the bytes, Parse returns a profile or an error,
// never panics, and Where's classes hold exactly the total.
func FuzzParse(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(bytes.NewReader(b))
		if err != nil {
			return
		}
		w := p.Where()
		var sum int64
		for _, v := range w.ByClass {
			sum += v
		}
		if sum != w.Total {
			t.Fatalf("classes hold %d, total %d", sum, w.Total)
		}
	})
}
