package bench

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netmodels/netmodels/perf/result"
)

// ReadMachine describes this machine for the report header. repo is the
// checkout whose commit is reported (read-only git commands).
func ReadMachine(repo string) result.Machine {
	m := result.Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	m.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.CPUModel = firstField("/proc/cpuinfo", "model name", ":")
	m.OS = strings.Trim(firstField("/etc/os-release", "PRETTY_NAME", "="), `"`)
	if kb, err := strconv.ParseInt(strings.Fields(firstField("/proc/meminfo", "MemTotal", ":") + " 0")[0], 10, 64); err == nil {
		m.MemTotal = kb << 10
	}
	m.LoadStart = LoadAvg()
	if v, err := commandOutput(repo, "go", "env", "GOVERSION"); err == nil && v != "" {
		m.GoVersion = v
	}
	if c, err := commandOutput(repo, "git", "rev-parse", "HEAD"); err == nil {
		m.Commit = c
	} else {
		m.Commit = "unknown (no commit)"
	}
	// results/ is left out: it holds the harness's own output, and a second
	// run after a first one would otherwise call the tree modified.
	if s, err := commandOutput(repo, "git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"); err == nil {
		m.Dirty = s != ""
	}
	return m
}

// LoadAvg is the 1-minute load average: a busy neighbour shows up here.
func LoadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func firstField(path, key, sep string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func commandOutput(dir string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// ContractEngines are the engines CONTRACT.md names, in its order.
var ContractEngines = []string{"goroutine", "rawepoll", "gnet", "netpoll", "dpdk"}

// DiscoverEngines lists the executables in binDir (bin/<engine> per the
// contract) and asks each for its version.
func DiscoverEngines(binDir string, only []string) []result.TargetInfo {
	var names []string
	if len(only) > 0 {
		names = only
	} else {
		// The contract's engines always get a column (absent when not
		// built), then anything else built into bin/.
		names = append(names, ContractEngines...)
		// bin/dpdk is also measured dpdk↔dpdk over memif (bench/dpdk.go).
		if i := slices.Index(names, DPDK); i >= 0 {
			names = slices.Insert(names, i+1, DPDKMemif)
		}
		if ents, err := os.ReadDir(binDir); err == nil {
			for _, e := range ents {
				if info, err := e.Info(); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 && !slices.Contains(names, e.Name()) {
					names = append(names, e.Name())
				}
			}
		}
	}
	var out []result.TargetInfo
	for _, n := range names {
		ti := result.TargetInfo{Name: n, Kind: result.KindEngine}
		path := filepath.Join(binDir, engineBase(n))
		if _, err := os.Stat(path); err != nil {
			ti.Reason = "not built: " + path + " missing (make build)"
		} else if v, err := commandOutput("", path, "version"); err != nil {
			ti.Reason = "`" + n + " version` failed: " + err.Error()
		} else {
			ti.Available, ti.Version = true, v
		}
		ti.Tuning = map[string]string{"GOMAXPROCS": envOr("GOMAXPROCS", "default (= CPUs visible; 1 when pinned)"),
			"flags": "contract defaults (the harness passes no tuning flag)"}
		switch n {
		case "rawepoll":
			// loopkit.ReserveProcs: the engine raises GOMAXPROCS to its
			// loops + 1 when it is below (spec/engine.md).
			ti.Tuning["GOMAXPROCS"] = envOr("GOMAXPROCS", "default (= CPUs visible; 1 when pinned)") + ", raised by the engine to workers + 1 when below"
		case DPDK:
			ti.Tuning["flags"] = "contract defaults plus its tap slot (core/dpdknet: --tap --ip --gw --tap-peer; --mtu when the run sets one); --poll=adaptive (default)"
			ti.Tuning["path"] = "kernel client or load generator → tap → DPDK net_tap → gVisor netstack → engine"
		case DPDKMemif:
			ti.Tuning["flags"] = "bin/dpdk msgr-server --memif=server,SOCKET --ip=" + memifServerIP + ", driven by bin/dpdk msgr-client --memif=client,SOCKET --ip=" + memifClientIP + " (its own process)"
			ti.Tuning["path"] = "DPDK client (gVisor) → net_memif shared memory → DPDK server (gVisor): no kernel on the data path; a different client from every other row"
		}
		if ti.Available {
			for _, sub := range []string{"msgr-server", "proxy"} {
				help, _ := combinedOutput(path, sub, "-h")
				for k, v := range tuningFlags(help) {
					ti.Tuning[sub+" "+k] = v
				}
			}
		}
		out = append(out, ti)
	}
	return out
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func combinedOutput(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// tuningFlags picks the knobs that decide performance (workers, pollers,
// buffers, batches) out of a Go flag -h listing, with their description
// and default, so the report says what each engine ran with.
func tuningFlags(help string) map[string]string {
	out := map[string]string{}
	lines := strings.Split(help, "\n")
	for i := 0; i+1 < len(lines); i++ {
		f := strings.Fields(lines[i])
		if len(f) == 0 || !strings.HasPrefix(f[0], "-") {
			continue
		}
		name := strings.TrimLeft(f[0], "-")
		low := strings.ToLower(name)
		if !containsAny(low, []string{"worker", "poll", "buf", "batch", "loop", "thread", "queue"}) {
			continue
		}
		out["--"+name] = strings.TrimSpace(lines[i+1])
	}
	return out
}

// otherCPU is the lowest CPU this process may run on other than pin (a
// split scenario's client CPU), or -1 when there is none.
func otherCPU(pin int) int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return -1
	}
	for cpu := 0; cpu < 1024; cpu++ {
		if cpu != pin && set.IsSet(cpu) {
			return cpu
		}
	}
	return -1
}
