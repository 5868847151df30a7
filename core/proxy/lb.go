package proxy

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"sort"
)

// HAProxy's load-balancing structures for static-rr, first and the two
// hash types of balance source (src/lb_map.c, lb_fas.c, lb_chash.c,
// backend.c get_server_sh), so that a configuration picks the same
// servers as HAProxy 2.6 does. All of it is guarded by backend.mu.

// fullHash is HAProxy's full_hash: Bob Jenkins' 32-bit integer avalanche
// hash, then a multiplication by a prime near 3/4 of 2^32 to spread the
// results over the ring.
func fullHash(a uint32) uint32 {
	a = (a + 0x7ed55d16) + (a << 12)
	a = (a ^ 0xc761c23c) ^ (a >> 19)
	a = (a + 0x165667b1) + (a << 5)
	a = (a + 0xd3a2646c) ^ (a << 9)
	a = (a + 0xfd7046c5) + (a << 3)
	a = (a ^ 0xb55a4f09) ^ (a >> 16)
	return a * 3221225473
}

// sourceHash is the key balance source hashes: the address's 32-bit
// big-endian words XORed together (an IPv4 address is its own key), then
// fullHash with the avalanche modifier.
func sourceHash(a netip.Addr, avalanche bool) uint32 {
	b := a.Unmap().AsSlice()
	var h uint32
	for i := 0; i+4 <= len(b); i += 4 {
		h ^= binary.BigEndian.Uint32(b[i:])
	}
	if avalanche {
		h = fullHash(h)
	}
	return h
}

// lbMap is HAProxy's server map (lb_map.c): each usable server appears
// eweight times (weight divided by the gcd of all the backend's
// weights), interleaved so that equal weights alternate in declaration
// order. static-rr walks it; map-based hashing indexes it.
type lbMap struct {
	key  []*server // the candidates it was built from
	keyW []int     // and their weights
	srv  []*server
	rr   int
	wdiv int // the gcd of the backend's non-zero weights
}

// lbWeight is the weight the balancing structures use.
func (s *server) lbWeight() int { return s.cfg.Weight }

func newLBMap(servers []*server) *lbMap {
	g := 0
	for _, s := range servers {
		if w := s.lbWeight(); w > 0 {
			g = gcd(g, w)
		}
	}
	return &lbMap{wdiv: max(g, 1)}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (m *lbMap) eweight(s *server) int { return (s.lbWeight() + m.wdiv - 1) / m.wdiv }

// update rebuilds the map when the candidates changed (recalc_server_map):
// for each slot, every server adds its eweight to a score and the highest
// (score + tot) / tot wins, the first declared among equals; the winner
// gives back tot.
func (m *lbMap) update(cands []*server) {
	same := slices.Equal(cands, m.key)
	for i := 0; same && i < len(cands); i++ {
		same = cands[i].lbWeight() == m.keyW[i]
	}
	if same {
		return
	}
	m.key = append(m.key[:0], cands...)
	m.keyW = m.keyW[:0]
	for _, s := range cands {
		m.keyW = append(m.keyW, s.lbWeight())
	}
	tot := 0
	for _, s := range cands {
		tot += m.eweight(s)
	}
	m.srv = m.srv[:0]
	score := make([]int, len(cands))
	for range tot {
		best, max := -1, 0
		for i, s := range cands {
			if tot == 1 {
				best = i
				break
			}
			score[i] += m.eweight(s)
			if v := (score[i] + tot) / tot; best < 0 || v > max {
				best, max = i, v
			}
		}
		m.srv = append(m.srv, cands[best])
		score[best] -= tot
	}
	if m.rr >= len(m.srv) {
		m.rr = 0
	}
}

// nextRR is map_get_server_rr: the next server of the map with room,
// other than avoid if another has room.
func (m *lbMap) nextRR(avoid *server) *server {
	n := len(m.srv)
	if n == 0 {
		return nil
	}
	if m.rr >= n {
		m.rr = 0
	}
	var avoided *server
	avoidedAt := 0
	for i := 0; i < n; i++ {
		idx := (m.rr + i) % n
		s := m.srv[idx]
		if !s.hasRoom() {
			continue
		}
		if s != avoid {
			m.rr = idx + 1
			return s
		}
		if avoided == nil {
			avoided, avoidedAt = s, idx+1
		}
	}
	if avoided != nil {
		m.rr = avoidedAt
	}
	return avoided
}

// hash is map_get_server_hash.
func (m *lbMap) hash(h uint32) *server {
	if len(m.srv) == 0 {
		return nil
	}
	return m.srv[h%uint32(len(m.srv))]
}

// chashRing is HAProxy's consistent hash ring (lb_chash.c): server s has
// weight × 16 points, point j at fullHash(id × 4096 + j). A key goes to
// the closest usable point on either side, so a server going down moves
// only the keys that were closest to its points.
type chashRing struct {
	nodes   []chashNode // sorted by key
	weights []int       // the servers' weights it was built with
}

type chashNode struct {
	key uint32
	srv *server
}

const (
	beWeightScale = 16                  // HAProxy's BE_WEIGHT_SCALE
	srvEwghtRange = 256 * beWeightScale // SRV_EWGHT_RANGE
)

func newCHashRing(servers []*server) *chashRing {
	r := &chashRing{}
	for _, s := range servers {
		r.weights = append(r.weights, s.lbWeight())
		for j := 0; j < s.lbWeight()*beWeightScale; j++ {
			r.nodes = append(r.nodes, chashNode{key: fullHash(uint32(s.cfg.ID*srvEwghtRange + j)), srv: s})
		}
	}
	sort.SliceStable(r.nodes, func(i, j int) bool { return r.nodes[i].key < r.nodes[j].key })
	return r
}

// stale reports whether a server's weight changed since the ring was
// built (HAProxy then adds or removes that server's points).
func (r *chashRing) stale(servers []*server) bool {
	for i, s := range servers {
		if s.lbWeight() != r.weights[i] {
			return true
		}
	}
	return false
}

// lookup is chash_get_server_hash over the points whose server is usable
// (HAProxy keeps only those in its tree): the next point at or after h
// and the one before it, wrapping around; the closer wins, the previous
// one on a tie.
func (r *chashRing) lookup(h uint32, usable func(*server) bool) *server {
	n := len(r.nodes)
	if n == 0 {
		return nil
	}
	start := sort.Search(n, func(i int) bool { return r.nodes[i].key >= h })
	next := -1
	for i := 0; i < n; i++ {
		if k := (start + i) % n; usable(r.nodes[k].srv) {
			next = k
			break
		}
	}
	if next < 0 {
		return nil
	}
	prev := -1
	for i := 1; i <= n; i++ {
		if k := ((start-i)%n + n) % n; usable(r.nodes[k].srv) {
			prev = k
			break
		}
	}
	dp := h - r.nodes[prev].key
	dn := r.nodes[next].key - h
	if dp <= dn {
		return r.nodes[prev].srv
	}
	return r.nodes[next].srv
}
