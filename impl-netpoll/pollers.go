package netpollengine

import (
	"fmt"
	"os"
	"runtime"
	"sync"

	"github.com/cloudwego/netpoll"
)

// netpoll's pollers are process-wide: one manager, started on first use,
// with GOMAXPROCS/20+1 pollers unless told otherwise. That default decides
// benchmark results (on 16 CPUs it is a single poller), so every engine
// sets the count explicitly from Config.Workers and says so on stderr
// once it serves (announcePollers).
//
// Shrinking the count closes pollers together with every connection
// registered on them, so while another engine of this process is alive the
// count only grows (the start-up line says which count is in force).
var pollers struct {
	mu      sync.Mutex
	live    int // engines not yet shut down
	n       int // count last set
	printed int // count last announced
}

// acquirePollers sets the poller count for a new engine and returns the
// count in force.
func acquirePollers(workers int) (int, error) {
	pollers.mu.Lock()
	defer pollers.mu.Unlock()
	want := workers
	if pollers.live > 0 && pollers.n > want {
		want = pollers.n
	}
	if want != pollers.n {
		if err := netpoll.SetNumLoops(want); err != nil {
			return 0, fmt.Errorf("netpoll: set %d pollers: %w", want, err)
		}
		pollers.n = want
	}
	pollers.live++
	return want, nil
}

// announcePollers prints the start-up line once per count in force. It
// runs at an engine's first successful Listen or Dial, not in New, so a
// command that fails before serving (a bad address) prints only its one
// error line (spec/cli.md).
func announcePollers(n, workers int) {
	pollers.mu.Lock()
	defer pollers.mu.Unlock()
	if pollers.printed == n {
		return
	}
	pollers.printed = n
	fmt.Fprintf(os.Stderr, "netpoll: %d pollers (netpoll.SetNumLoops from --workers %d; GOMAXPROCS %d; netpoll's own default would be %d)\n",
		n, workers, runtime.GOMAXPROCS(0), runtime.GOMAXPROCS(0)/20+1)
}

func releasePollers() {
	pollers.mu.Lock()
	pollers.live--
	pollers.mu.Unlock()
}

// netpoll gives every connection a LinkBuffer whose first node is
// netpoll's default buffer size (8 KiB) and never smaller than
// LinkBufferCap (4 KiB); the node a connection last read into stays with
// it while it is idle, so a server holding idle connections paid 8 KiB
// for each. Both are process-wide and netpoll reads them only when it
// creates connections and nodes (Configure's doc: "must be called in
// init()"), so they are set here, before any engine exists. A connection
// now starts with idleLinkBuffer bytes: its reads double in size whenever
// one fills the space booked (netpoll's own bookSize), so a busy
// connection reaches 8 KiB reads after five full reads and stays there.
// 256 bytes holds a small request, a msgr banner or a proxied client's
// first line in one read; at 1 KiB an idle proxy session (two
// connections) held 1.5 KiB more (issue 17, proxy-idle).
const idleLinkBuffer = 1 << 8

func init() {
	netpoll.LinkBufferCap = idleLinkBuffer
	if err := netpoll.Configure(netpoll.Config{BufferSize: idleLinkBuffer}); err != nil {
		panic(fmt.Sprintf("netpoll: configure: %v", err)) // cannot fail without PollerNum or an unknown LoadBalance
	}
}
