package result

import "testing"

func TestSplitBaseline(t *testing.T) {
	for _, c := range []struct{ target, engine, label string }{
		{"goroutine", "goroutine", ""},
		{"raw-tcp / direct", "raw-tcp / direct", ""},
		{"haproxy/t2", "haproxy/t2", ""},
		{"goroutine@HEAD~1", "goroutine", "HEAD~1"},
		{"dpdk-memif@origin-main", "dpdk-memif", "origin-main"},
		{"rawepoll@HEAD~1/w2", "rawepoll/w2", "HEAD~1"},
	} {
		e, l := SplitBaseline(c.target)
		if e != c.engine || l != c.label {
			t.Errorf("SplitBaseline(%q) = %q, %q; want %q, %q", c.target, e, l, c.engine, c.label)
		}
	}
}
