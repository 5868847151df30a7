package serial

import (
	"testing"
	"unsafe"
)

// The goroutine and netpoll engines embed a BaseConn in a conn of 480
// bytes or less (the runtime's 480-byte size class; the next is 512), and
// a proxy session holds two: a field that grows BaseConn should be a
// decision, as core/proxy's TestSessionSize says of its session.
func TestBaseConnSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are for 64-bit platforms")
	}
	if n := unsafe.Sizeof(BaseConn{}); n > 392 {
		t.Errorf("BaseConn is %d bytes, over 392 (impl-goroutine's conn adds 88 to it)", n)
	}
}
