package cli

import (
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/msgr/protocol"
)

// --body-progress-timeout 0 turns the timer off; msgr.Config reads 0 as
// "the default" and a negative value as off.
func TestBodyProgressTimeoutFlag(t *testing.T) {
	for _, tc := range []struct{ flag, want time.Duration }{
		{0, -1}, {time.Second, time.Second}, {protocol.DefaultBodyProgressTimeout, protocol.DefaultBodyProgressTimeout},
	} {
		if got := bodyTimeout(tc.flag); got != tc.want {
			t.Errorf("--body-progress-timeout %v: config %v, want %v", tc.flag, got, tc.want)
		}
	}
}
