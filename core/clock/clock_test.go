package clock

import "testing"

// Real's timer fires once and its stop reports whether it prevented the
// call, as time.Timer.Stop does.
func TestRealAfterFunc(t *testing.T) {
	fired := make(chan struct{})
	Real.AfterFunc(0, func() { close(fired) })
	<-fired

	stop := Real.AfterFunc(1<<62, func() { t.Error("stopped timer ran") })
	if !stop() {
		t.Error("stop of a pending timer reported false")
	}
	if stop() {
		t.Error("second stop reported true")
	}
	if Real.Now().IsZero() {
		t.Error("Now is the zero time")
	}
}
