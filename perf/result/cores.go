package result

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/netmodels/netmodels/perf/stats"
)

// GroupCores is the group of the core-sweep scenarios (perf/bench
// cores.go): one scenario holds every point of its sweep, each point a
// target named by CoreTarget.
const GroupCores = "cores"

// CoreTarget names one point of a core sweep: "rawepoll/w2" is rawepoll
// with --workers 2, "haproxy/t2" HAProxy with nbthread 2. An anchor that
// has no worker count (direct) keeps its plain name.
func CoreTarget(base string, n int, threads bool) string {
	if threads {
		return fmt.Sprintf("%s/t%d", base, n)
	}
	return fmt.Sprintf("%s/w%d", base, n)
}

// ParseCoreTarget is CoreTarget's inverse; ok is false for a name that is
// not a sweep point.
func ParseCoreTarget(name string) (base string, n int, ok bool) {
	i := strings.LastIndexByte(name, '/')
	if i <= 0 || i+2 > len(name) || (name[i+1] != 'w' && name[i+1] != 't') {
		return "", 0, false
	}
	n, err := strconv.Atoi(name[i+2:])
	if err != nil || n < 1 {
		return "", 0, false
	}
	return name[:i], n, true
}

// Efficiency is a core sweep's scaling efficiency at n workers: the rate
// at n over n times the rate at 1 (1.0: each added worker adds what the
// first gave). Its bounds combine both medians' confidence intervals the
// conservative way, as the report's ratios do: the lowest rate at n over
// the highest at 1, and the reverse. ok is false when either summary is
// empty or the rate at 1 is not positive.
func Efficiency(n int, atN, at1 stats.Summary) (eff, lo, hi float64, ok bool) {
	if n < 1 || atN.N == 0 || at1.N == 0 || at1.Median <= 0 || at1.Lo <= 0 {
		return 0, 0, 0, false
	}
	k := float64(n)
	return atN.Median / (k * at1.Median), atN.Lo / (k * at1.Hi), atN.Hi / (k * at1.Lo), true
}
