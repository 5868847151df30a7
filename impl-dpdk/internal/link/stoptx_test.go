package link

import (
	"sync"
	"sync/atomic"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// closingPort is a Port that records every Tx and fails the test when one
// runs after close.
type closingPort struct {
	t      *testing.T
	closed atomic.Bool
	txs    atomic.Int64
}

func (p *closingPort) MAC() [6]byte              { return [6]byte{2, 0, 0, 0, 0, 1} }
func (p *closingPort) Rx(func(frame []byte)) int { return 0 }
func (p *closingPort) Tx(n int, fill func(i int, buf []byte) int) int {
	if p.closed.Load() {
		p.t.Error("Tx on a closed port")
	}
	p.txs.Add(1)
	buf := make([]byte, 2048)
	for i := 0; i < n; i++ {
		fill(i, buf)
	}
	return n
}

// TestStopTxBeforeClose: the runtime's teardown order (StopTx, then close
// the port) holds with senders still running, as gVisor's goroutines are
// after Stack.Close: once StopTx returns no Tx starts, and WritePackets
// says ErrClosedForSend. Run it with -race.
func TestStopTxBeforeClose(t *testing.T) {
	port := &closingPort{t: t}
	e := New(port, 1500)
	send := func() tcpip.Error {
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(make([]byte, 100))})
		defer pkt.DecRef()
		var l stack.PacketBufferList
		l.PushBack(pkt)
		_, err := e.WritePackets(l)
		return err
	}
	var wg sync.WaitGroup
	var stopped atomic.Bool
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				err := send()
				if _, ok := err.(*tcpip.ErrClosedForSend); ok {
					return
				}
				if err != nil {
					t.Errorf("WritePackets: %v", err)
					return
				}
				if i == 100 && stopped.CompareAndSwap(false, true) {
					e.StopTx()
					port.closed.Store(true) // the port is gone from here on
				}
			}
		}()
	}
	wg.Wait()
	if !stopped.Load() {
		t.Fatal("StopTx never ran")
	}
	if _, ok := send().(*tcpip.ErrClosedForSend); !ok {
		t.Fatal("WritePackets after StopTx: want ErrClosedForSend")
	}
	if port.txs.Load() == 0 {
		t.Fatal("no Tx before StopTx")
	}
}
