//go:build !linux

package sleep

import "time"

// precise falls back to the runtime's sleep where nanosleep(2) and timer
// slack are not available (the project measures on Linux only).
func precise(d time.Duration) { time.Sleep(d) }

// LowTimerSlack does nothing outside Linux.
func LowTimerSlack() {}
