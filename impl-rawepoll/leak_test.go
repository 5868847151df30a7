package rawepoll

import (
	"testing"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/enginetest"
)

// TestNoLeaksAfter10kConnectClose: 10,000 connect/close cycles leave the
// process with the descriptors it had (checked while the engine runs and
// after Shutdown: the engine closes every descriptor itself) and no
// goroutines behind.
func TestNoLeaksAfter10kConnectClose(t *testing.T) {
	enginetest.CheckConnectCloseNoLeak(t, New, 10000, enginetest.LeakOptions{
		Config:    engine.Config{Workers: 2},
		Parallel:  16,
		StrictFDs: true,
	})
}
