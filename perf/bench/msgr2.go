package bench

import (
	"context"
	"fmt"
	"os"

	"github.com/netmodels/netmodels/core/msgr/wire2"
	"github.com/netmodels/netmodels/perf/anchor"
	"github.com/netmodels/netmodels/perf/msgr2ka"
	"github.com/netmodels/netmodels/perf/result"
)

// msgr2Server is an engine's msgr-server on msgr2.1 crc mode: its READY
// address is v2:IP:PORT/NONCE, which the client dials (and so speaks v2).
// Both keep the lossless defaults of their msgr1 twins, so a v1 and a v2
// cell do the same session work and differ only in the wire.
var (
	msgr2ServerFlags = []string{"--protocol", "v2"}
	msgr2ClientFlags []string
)

// msgr2WireLen is the bytes an ECHO of size data bytes takes on the
// wire in msgr2.1 crc mode (no front, no middle): preamble, ceph_msg_header2
// and its crc, and with data the data segment and the epilogue; the
// raw-tcp floor of a msgr2 ping-pong echoes that many bytes.
func msgr2WireLen(size int) int {
	return len(wire2.AppendMessage(nil, wire2.Message{Data: make([]byte, size)}))
}

// msgr2Scenarios are the headline messenger scenarios over msgr2: the
// ping-pong of 0 B and 4 KiB messages and the KEEPALIVE2 ping-pong,
// pinned, with ceph-mon's v2 port as the keepalive anchor. The rest of
// the messenger scenarios stay msgr1 only, to keep the default suite's
// time (perf/README.md).
func (r *runner) msgr2Scenarios(client string) []*scenarioDef {
	var defs []*scenarioDef
	for _, size := range []int{0, 4096} {
		wireLen := msgr2WireLen(size)
		d := &scenarioDef{unit: perMsg, res: result.Scenario{
			ID:      fmt.Sprintf("msgr2-pingpong-%s-pinned", sizeName(size)),
			Group:   "messenger",
			Title:   fmt.Sprintf("Messenger ping-pong over msgr2 (crc mode), %s data, 1 connection, depth 1, pinned", sizeName(size)),
			Pinned:  true,
			Params:  map[string]string{"size": fmt.Sprint(size), "conns": "1", "depth": "1", "protocol": "v2"},
			Metrics: []result.MetricDef{mP50, mP99, mP999, mRateLat, mCPUMsg, mPeakRSS, mClient},
			Anchors: []string{RawTCP},
			Note: fmt.Sprintf("msgr-pingpong-%s-pinned over msgr2.1 in crc mode: msgr-server --protocol v2, "+
				"driven by %s at its v2 address, lossless defaults as in the msgr1 twin. %s: the harness's ping-pong of %d bytes "+
				"(the message's size on the wire in msgr2.1 crc mode) against its raw echo server.", sizeName(size), client, RawTCP, wireLen),
		}}
		d.targets = append(d.targets, target{name: RawTCP, kind: result.KindAnchor, driver: "perf loadgen pingpong",
			setup: r.rawRig,
			load: func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
				s, res, err := r.runLoadgen(ctx, g, pin, warm, "pingpong", "--addr", g.addr["echo"], "--conns", "1", "--size", fmt.Sprint(wireLen))
				s.metrics["rate"] = res.OpsPerS
				return s, err
			}})
		d.targets = append(d.targets, r.msgrClientTargets(client, r.msgrServer(msgr2ServerFlags...), func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
			s, _, err := r.msgrClient(ctx, pin, g, warm, 1, 1, size, msgr2ClientFlags...)
			return s, err
		})...)
		defs = append(defs, d)
	}

	ka := func(peer string) func(context.Context, *rig, int, bool) (sample, error) {
		return func(ctx context.Context, g *rig, pin int, warm bool) (sample, error) {
			flags := []string{"--addr", g.addr["msgr"], "--protocol", "ka2", "--peer-type", peer}
			if peer == "raw" {
				// The floor: raw frames of a msgr2 keepalive's size.
				flags = []string{"--addr", g.addr["echo"], "--size", fmt.Sprint(msgr2ka.FrameLen)}
			}
			s, res, err := r.runLoadgen(ctx, g, pin, warm, "pingpong", flags...)
			s.metrics["rate"] = res.OpsPerS
			return s, err
		}
	}
	const driver = "perf loadgen (msgr2 keepalive client)"
	targets := []target{
		{name: RawTCP, kind: result.KindAnchor, driver: fmt.Sprintf("perf loadgen pingpong (%d-byte frames to raw echo)", msgr2ka.FrameLen), setup: r.rawRig, load: ka("raw")},
		{name: CephMon, kind: result.KindAnchor, driver: driver, setup: r.cephMonV2Rig, load: ka("mon")},
	}
	targets = append(targets, r.engineTargets(driver, r.msgrServer(msgr2ServerFlags...), ka("osd"))...)
	defs = append(defs, &scenarioDef{unit: perMsg, targets: targets, res: result.Scenario{
		ID:      "msgr2-keepalive-pingpong-pinned",
		Group:   "messenger",
		Title:   "Messenger KEEPALIVE2 ping-pong over msgr2 (crc mode), closed loop, pinned",
		Pinned:  true,
		Params:  map[string]string{"protocol": "v2"},
		Metrics: []result.MetricDef{mP50, mP99, mP999, mRateLat, mCPUMsg, mPeakRSS, mClient},
		Anchors: []string{RawTCP, CephMon},
		Note: fmt.Sprintf("msgr-keepalive-pingpong-pinned over msgr2.1 in crc mode: every cell is driven by the harness's own msgr2 client "+
			"(perf/msgr2ka on core/msgr/proto2: banner, HELLO, auth none, idents, then KEEPALIVE2 → KEEPALIVE2_ACK, %d bytes each); "+
			"ceph-mon is dialled on its v2 port (ms_bind_msgr2, the 3300-style address), the engines' msgr-server runs --protocol v2; "+
			"raw-tcp echoes frames of the same size.", msgr2ka.FrameLen),
	}})
	return defs
}

// cephMonV2Rig is cephMonRig with msgr2 bound: the keepalive anchor of
// the msgr2 scenarios, dialled at v2:IP:PORT/0.
func (r *runner) cephMonV2Rig(pin int) (*rig, error) {
	return retryOnce(func(pin int) (*rig, error) {
		dir, err := os.MkdirTemp(r.cfg.WorkDir, "ceph-mon-v2-")
		if err != nil {
			return nil, err
		}
		m, err := anchor.StartCephMonV2(dir, pin)
		if err != nil {
			return nil, err
		}
		g := newRig()
		g.add(m)
		g.measured, g.addr["msgr"] = m.Proc, "v2:"+m.V2Addr+"/0"
		g.server = "ceph-mon -f (one monitor, auth none, msgr1 and msgr2 bound, dialled on msgr2; defaults otherwise)"
		return g, nil
	})(pin)
}
