package loopkit

import (
	"math"
	"time"
)

// epoch anchors the engines' monotonic clock.
var epoch = time.Now()

// Now is the clock an engine's loops give Timers: monotonic nanoseconds
// since the process started.
func Now() int64 { return int64(time.Since(epoch)) }

// Deadline is Now()+d, saturating instead of wrapping for huge d.
func Deadline(d time.Duration) int64 {
	n := Now()
	if d > 0 && n > math.MaxInt64-int64(d) {
		return math.MaxInt64
	}
	return n + int64(d)
}
