package proxy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/proxy/config"
)

// balance first: the lowest id with a free slot takes the session;
// maxconn moves the next ones on; a freed slot is used again first.
func TestBalanceFirst(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000
    balance first
    server b 127.0.0.1:9002 maxconn 2 id 2
    server a 127.0.0.1:9001 maxconn 2 id 1
    server c 127.0.0.1:9003 maxconn 2 id 3
`), 0)
	for _, a := range three {
		h.server(a, func() *peer { return &peer{} })
	}
	h.start()
	var cs []*peer
	for range 3 {
		cs = append(cs, h.dial("127.0.0.1:8000", &peer{}))
		h.settle()
	}
	if c := h.counts(three...); c[0] != 2 || c[1] != 1 || c[2] != 0 {
		t.Fatalf("first 3 sessions: %v, want [2 1 0]", c)
	}
	h.e.InjectReset(cs[0].conn) // the session on id 1 ends
	h.settle()
	h.dial("127.0.0.1:8000", &peer{})
	h.settle()
	if c := h.counts(three...); c[0] != 3 || c[1] != 1 {
		t.Fatalf("a freed slot on id 1 is not used first: %v", c)
	}
}

// static-rr walks HAProxy's map: weights 3 and 1 give a,a,a,b.
func TestBalanceStaticRR(t *testing.T) {
	h := newHarness(t, cfgWith(`
listen l
    bind 127.0.0.1:8000
    balance static-rr
    server a 127.0.0.1:9001 weight 3
    server b 127.0.0.1:9002 weight 1
`), 0)
	h.server("127.0.0.1:9001", func() *peer { return &peer{} })
	h.server("127.0.0.1:9002", func() *peer { return &peer{} })
	h.start()
	var order []string
	for range 8 {
		h.dial("127.0.0.1:8000", &peer{})
		h.settle()
		if len(h.servers["127.0.0.1:9001"]) > strings.Count(strings.Join(order, ""), "a") {
			order = append(order, "a")
		} else {
			order = append(order, "b")
		}
	}
	if got := strings.Join(order, ""); got != "aaabaaab" {
		t.Fatalf("order %s, want aaabaaab", got)
	}
}

// The map of HAProxy's recalc_server_map for a few weight sets.
func TestLBMapOrder(t *testing.T) {
	for _, tc := range []struct {
		weights []int
		want    string
	}{
		{[]int{1, 1, 1}, "abc"},
		{[]int{3, 1}, "aaab"},
		{[]int{2, 4}, "abb"}, // divided by the gcd 2
		{[]int{2, 1, 1}, "aabc"},
	} {
		var ss []*server
		for i, w := range tc.weights {
			s := &server{cfg: &config.Server{Name: string(rune('a' + i)), Weight: w}}
			s.weight.Store(int32(w)) // the map follows the current weight
			ss = append(ss, s)
		}
		m := newLBMap(ss)
		m.update(ss)
		var got strings.Builder
		for _, s := range m.srv {
			got.WriteString(s.cfg.Name)
		}
		if got.String() != tc.want {
			t.Errorf("weights %v: map %s, want %s", tc.weights, got.String(), tc.want)
		}
	}
}

func sourceCfg(hash string, n int) string {
	var b strings.Builder
	b.WriteString(cfgWith(`
frontend fe
    bind 0.0.0.0:8000
    default_backend be
backend be
    balance source
` + hash))
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "    server s%d 127.0.0.1:%d check inter 1s fall 1\n", i, 9000+i)
	}
	return b.String()
}

// where reports, for each source, the server its session reached.
func (h *harness) where(srcs []string, n int) map[string]int {
	out := map[string]int{}
	for _, src := range srcs {
		before := make([]int64, n)
		for i := range n {
			before[i] = h.stot("be", fmt.Sprintf("s%d", i+1))
		}
		h.dial(src+":8000", &peer{}) // memengine: the source is the dialed IP
		h.settle()
		out[src] = -1
		for i := range n {
			if h.stot("be", fmt.Sprintf("s%d", i+1)) > before[i] {
				out[src] = i
			}
		}
	}
	return out
}

func sources(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("10.1.%d.%d", i/250, i%250+1))
	}
	return out
}

// map-based (the default): the IPv4 address as an integer, modulo the
// total weight, indexes the map: what HAProxy picks.
func TestSourceMapBased(t *testing.T) {
	for _, tc := range []struct {
		hash string
		aval bool
	}{{"", false}, {"    hash-type map-based sdbm avalanche\n", true}} {
		h := newHarness(t, sourceCfg(tc.hash, 3), 0)
		for _, a := range three {
			h.server(a, func() *peer { return &peer{} })
		}
		h.start()
		srcs := sources(30)
		got := h.where(srcs, 3)
		for _, src := range srcs {
			k := sourceHash(netip.MustParseAddr(src), tc.aval)
			if want := int(k % 3); got[src] != want {
				t.Fatalf("%q: %s went to s%d, want s%d", tc.hash, src, got[src]+1, want+1)
			}
		}
	}
	if k := sourceHash(netip.MustParseAddr("127.0.0.1"), false); k != 0x7f000001 {
		t.Fatalf("key of 127.0.0.1 = %#x", k)
	}
}

// Consistent hashing: when a server goes down only the sources it had
// move (each to another server), and about its share of them; map-based
// hashing moves most of the others too.
func TestSourceConsistentShareMoved(t *testing.T) {
	const n, nsrc = 4, 400
	run := func(hash string) (moved, movedOthers, onDead int) {
		h := newHarness(t, sourceCfg(hash, n), 0)
		for i := 1; i <= n; i++ {
			h.server(fmt.Sprintf("127.0.0.1:%d", 9000+i), func() *peer { return &peer{} })
		}
		h.start()
		srcs := sources(nsrc)
		before := h.where(srcs, n)
		h.killServer("127.0.0.1:9002")
		h.advance(time.Second)
		if h.isUp("be", "s2") {
			t.Fatal("s2 still up")
		}
		after := h.where(srcs, n)
		for _, s := range srcs {
			if before[s] == 1 {
				onDead++
			}
			if before[s] != after[s] {
				moved++
				if before[s] != 1 {
					movedOthers++
				}
			}
			if after[s] == 1 || after[s] < 0 {
				t.Fatalf("%s still on the dead server or nowhere: %d", s, after[s])
			}
		}
		return
	}
	moved, others, onDead := run("    hash-type consistent\n")
	if others != 0 || moved != onDead {
		t.Fatalf("consistent: %d moved, %d of them not from the dead server (%d were on it)", moved, others, onDead)
	}
	if onDead < nsrc/n/2 || onDead > nsrc/n*2 {
		t.Fatalf("consistent: the dead server had %d of %d sources, want about %d", onDead, nsrc, nsrc/n)
	}
	if _, others, _ := run(""); others < nsrc/4 {
		t.Fatalf("map-based moved only %d sources that were not on the dead server", others)
	}
}

// HAProxy's full_hash on known values (computed by hand from
// src/hash.h's sequence).
func TestFullHash(t *testing.T) {
	// full_hash(0): each step of Bob Jenkins' mix, then × 3221225473.
	a := uint32(0)
	a = (a + 0x7ed55d16) + (a << 12)
	a = (a ^ 0xc761c23c) ^ (a >> 19)
	a = (a + 0x165667b1) + (a << 5)
	a = (a + 0xd3a2646c) ^ (a << 9)
	a = (a + 0xfd7046c5) + (a << 3)
	a = (a ^ 0xb55a4f09) ^ (a >> 16)
	if got := fullHash(0); got != a*3221225473 {
		t.Fatalf("fullHash(0) = %#x", got)
	}
	seen := map[uint32]bool{}
	for i := uint32(0); i < 1000; i++ {
		seen[fullHash(i)] = true
	}
	if len(seen) != 1000 {
		t.Fatalf("fullHash collides on small inputs: %d distinct", len(seen))
	}
}

// The ring gives each server a share of keys proportional to its weight,
// and a key goes to the nearest usable point on either side.
func TestCHashRing(t *testing.T) {
	mk := func(id, w int) *server {
		s := &server{cfg: &config.Server{ID: id, Weight: w}}
		s.weight.Store(int32(w)) // the ring follows the current weight
		return s
	}
	a, b := mk(1, 3), mk(2, 1)
	r := newCHashRing([]*server{a, b})
	if len(r.nodes) != 4*beWeightScale {
		t.Fatalf("%d points, want %d", len(r.nodes), 4*beWeightScale)
	}
	all := func(*server) bool { return true }
	n := map[*server]int{}
	const keys = 20000
	for i := range keys {
		n[r.lookup(fullHash(uint32(i)), all)]++
	}
	if share := float64(n[a]) / keys; share < 0.6 || share > 0.9 {
		t.Fatalf("weight 3 of 4 got %.2f of the keys", share)
	}
	// Nearest point: exactly between two points the previous one wins;
	// past the middle, the next one.
	p0, p1 := r.nodes[10], r.nodes[11]
	mid := p0.key + (p1.key-p0.key)/2
	if got := r.lookup(mid, all); got != p0.srv && (p1.key-p0.key)%2 == 0 {
		t.Fatalf("a key half way went to the next point")
	}
	if got := r.lookup(p1.key-1, all); got != p1.srv {
		t.Fatalf("a key next to a point went elsewhere")
	}
	// Only b usable: every key goes to b.
	onlyB := func(s *server) bool { return s == b }
	for i := range 100 {
		if r.lookup(fullHash(uint32(i)), onlyB) != b {
			t.Fatal("a key went to an unusable server")
		}
	}
	if r.lookup(1, func(*server) bool { return false }) != nil {
		t.Fatal("no usable server, yet a pick")
	}
}

// BenchmarkPick measures one server choice per algorithm over 8 servers
// (the lock and candidate list included): what balancing adds to a
// session's start.
func BenchmarkPick(b *testing.B) {
	for _, tc := range []struct{ balance, hash string }{
		{"roundrobin", ""}, {"static-rr", ""}, {"first", ""}, {"leastconn", ""},
		{"source", ""}, {"source", "    hash-type consistent\n"},
	} {
		b.Run(tc.balance+strings.TrimSpace(strings.TrimPrefix(tc.hash, "    hash-type")), func(b *testing.B) {
			var sb strings.Builder
			sb.WriteString(cfgWith("listen l\n    bind 127.0.0.1:8000\n    balance " + tc.balance + "\n" + tc.hash))
			for i := 1; i <= 8; i++ {
				fmt.Fprintf(&sb, "    server s%d 127.0.0.1:%d weight %d\n", i, 9000+i, 1+i%3)
			}
			cfg, err := config.Parse([]config.File{{Name: "b.cfg", Data: []byte(sb.String())}}, config.Options{})
			if err != nil {
				b.Fatal(err)
			}
			be := newBackend(&Proxy{}, cfg.Backends[0], 1)
			src := netip.MustParseAddr("10.1.2.3")
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				be.mu.Lock()
				s, _ := be.pickLocked(src, nil)
				be.mu.Unlock()
				if s == nil {
					b.Fatal("no server")
				}
				src = netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
			}
		})
	}
}
