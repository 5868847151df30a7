package memengine_test

import (
	"testing"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/enginetest"
	"github.com/netmodels/netmodels/core/engine/memengine"
)

// The shared engine kit, on the real clock: the in-memory engine must behave
// like every socket engine.
func TestEngineKit(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, cfg engine.Config) engine.Engine {
		e, err := memengine.NewEngine(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
}
