// Package clock is the one time source the messenger, the proxy and the
// in-memory engine share: the current time and timers that are not tied to
// a connection (reconnect back-off, health-check schedules). Connection
// timers use engine.Conn.AfterFunc instead, on the connection's loop.
//
// memengine.FakeClock implements Clock, so a test drives time exactly.
package clock

import "time"

// Clock gives the time and one-shot timers.
type Clock interface {
	// Now is the current time.
	Now() time.Time
	// AfterFunc calls f once, on a goroutine of the clock's choosing, when d
	// has passed. stop cancels the call and reports whether it prevented it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// Real is the wall clock: time.Now and time.AfterFunc.
var Real Clock = wall{}

type wall struct{}

func (wall) Now() time.Time { return time.Now() }

func (wall) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}
