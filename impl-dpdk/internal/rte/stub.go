//go:build !dpdk

package rte

import "errors"

// Available reports that this build has DPDK support.
const Available = false

// ErrNotBuilt is returned by every call in a build without the dpdk tag.
var ErrNotBuilt = errors.New("built without DPDK support (install libdpdk-dev and build with -tags dpdk)")

// Burst is the most frames one rx or tx call handles.
const Burst = 32

// Port is unavailable without DPDK.
type Port struct{}

func EALInit([]string) error                    { return ErrNotBuilt }
func EALCleanup()                               {}
func QuietLog()                                 {}
func LastLog() string                           { return "" }
func PortCount() int                            { return 0 }
func OpenPort(int, int, int) (*Port, error)     { return nil, ErrNotBuilt }
func (*Port) MAC() [6]byte                      { return [6]byte{} }
func (*Port) LinkUp() bool                      { return false }
func (*Port) Rx(func([]byte)) int               { return 0 }
func (*Port) Tx(int, func(int, []byte) int) int { return 0 }
func (*Port) Close()                            {}
