package tlsconn

import (
	"fmt"
	"time"
)

// waitIdleDebug is WaitIdle with a bound: a test that would hang panics
// with the Limiter's counts instead.
func (l *Limiter) waitIdleDebug() {
	done := make(chan struct{})
	go func() { l.WaitIdle(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		l.mu.Lock()
		msg := fmt.Sprintf("limiter stuck: running %d parked %d granting %d waiting %d", l.running, l.parked, l.granting, l.waiting.Len())
		l.mu.Unlock()
		fmt.Println(msg)
		panic(msg)
	}
}
