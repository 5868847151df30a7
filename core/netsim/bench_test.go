package netsim

import (
	"io"
	"net"
	"testing"
	"time"
)

// The emulator's own cost, next to a veth pair: "emulator" is the
// emulator with no delay, loss or rate. Figures for spec/topology.md:
//
//	go test -run XXX -bench . -benchtime 2000x ./core/netsim
var benchProfiles = []Profile{{Name: "lan", Direct: true}, {Name: "emulator"}, profiles["dc"]}

// BenchmarkRTT: one-byte TCP round trips client → server echo → client;
// p50 and minimum per profile.
func BenchmarkRTT(b *testing.B) {
	for _, p := range benchProfiles {
		b.Run(p.Name, func(b *testing.B) {
			topo := up(b, p)
			addr := startEcho(b, topo.Server, 7000)
			rtts(b, topo.Client, addr, 100) // warm up: ARP, slow start
			b.ResetTimer()
			r := rtts(b, topo.Client, addr, b.N)
			b.ReportMetric(float64(r[len(r)/2])/float64(time.Microsecond), "µs-p50")
			b.ReportMetric(float64(r[0])/float64(time.Microsecond), "µs-min")
		})
	}
}

// BenchmarkThroughput: one TCP stream client → server, 64 KiB writes.
func BenchmarkThroughput(b *testing.B) {
	for _, p := range benchProfiles[:2] {
		b.Run(p.Name, func(b *testing.B) {
			topo := up(b, p)
			l, err := topo.Server.Listen("tcp", net.JoinHostPort(ServerIP.String(), "7002"))
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			done := make(chan int64, 1)
			go func() {
				c, err := l.Accept()
				if err != nil {
					done <- 0
					return
				}
				n, _ := io.Copy(io.Discard, c)
				done <- n
			}()
			c, err := topo.Client.Dial(b.Context(), "tcp", l.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 64<<10)
			b.SetBytes(int64(len(buf)))
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			c.Close()
			if n := <-done; n != int64(b.N*len(buf)) {
				b.Fatalf("received %d of %d bytes", n, b.N*len(buf))
			}
			b.StopTimer()
			cs, _ := topo.Counters()
			b.ReportMetric(float64(b.N*len(buf))*8/b.Elapsed().Seconds()/1e9, "Gbit/s")
			b.ReportMetric(float64(cs.QueueDrops), "queue-drops")
		})
	}
}
