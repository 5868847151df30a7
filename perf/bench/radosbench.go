package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// radosSummary is the summary `rados bench SECONDS write` prints at its
// end (Ceph 16's ObjBencher::write_bench), the figures msgr-rados records.
// rados gives no latency percentiles: average, standard deviation,
// maximum and minimum are all it reports.
type radosSummary struct {
	Seconds   float64 // Total time run: from the first write to the last reply
	Writes    int64   // Total writes made (completed)
	WriteSize int64   // Write size, bytes
	// IOPS is Writes / Seconds; rados prints it truncated to an integer
	// ("Average IOPS"), which parseRadosBench checks it against.
	IOPS                                  float64
	AvgLatS, StddevLatS, MaxLatS, MinLatS float64
}

// radosFields are the summary lines parseRadosBench needs, by their label.
var radosFields = []string{
	"Total time run", "Total writes made", "Write size", "Average IOPS",
	"Average Latency(s)", "Stddev Latency(s)", "Max latency(s)", "Min latency(s)",
}

// parseRadosBench reads the summary from rados bench's stdout (the
// per-second table and the header before it are skipped). Every field
// of radosFields must be there, and Average IOPS must be what the writes
// and the time give: a summary that disagrees with itself was misread.
func parseRadosBench(out string) (radosSummary, error) {
	vals := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		label, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		// The last one counts: the summary is at the end.
		vals[strings.TrimSpace(label)] = strings.TrimSpace(val)
	}
	num := map[string]float64{}
	for _, f := range radosFields {
		v, ok := vals[f]
		if !ok {
			return radosSummary{}, fmt.Errorf("rados bench: no %q in its output: %s", f, lastLines(out, 4))
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
			return radosSummary{}, fmt.Errorf("rados bench: %s: %q is not a count or a time", f, v)
		}
		num[f] = x
	}
	s := radosSummary{Seconds: num["Total time run"], Writes: int64(num["Total writes made"]), WriteSize: int64(num["Write size"]),
		AvgLatS: num["Average Latency(s)"], StddevLatS: num["Stddev Latency(s)"], MaxLatS: num["Max latency(s)"], MinLatS: num["Min latency(s)"]}
	if s.Seconds <= 0 || s.Writes <= 0 {
		return radosSummary{}, fmt.Errorf("rados bench: %d writes in %v s: nothing measured", s.Writes, s.Seconds)
	}
	s.IOPS = float64(s.Writes) / s.Seconds
	// rados prints the time to 6 significant digits: at 200k op/s that
	// alone moves the quotient by more than 1, so the tolerance is relative.
	if printed := num["Average IOPS"]; math.Abs(math.Trunc(s.IOPS)-printed) > max(1, 1e-5*printed) {
		return radosSummary{}, fmt.Errorf("rados bench: Average IOPS %v, but %d writes in %v s make %.1f", printed, s.Writes, s.Seconds, s.IOPS)
	}
	return s, nil
}

// lastLines is the end of a command's output, for an error message.
func lastLines(out string, n int) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
