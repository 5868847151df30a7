package loopkit

import "testing"

func TestReadBufsClasses(t *testing.T) {
	p := NewReadBufs(4<<10, 16<<10+100) // a last class that is not a power of two
	for _, tc := range []struct{ ask, want int }{
		{1, 4 << 10}, {4 << 10, 4 << 10}, {4<<10 + 1, 8 << 10}, {16 << 10, 16 << 10},
		{16<<10 + 1, 16<<10 + 100}, {1 << 20, 16<<10 + 100},
	} {
		b := p.Get(tc.ask)
		if len(*b) != tc.want {
			t.Errorf("Get(%d): %d bytes, want %d", tc.ask, len(*b), tc.want)
		}
		p.Put(b)
	}
	if p.Max() != 16<<10+100 {
		t.Errorf("Max = %d", p.Max())
	}
}

func TestReadBufsGrowKeepsBytes(t *testing.T) {
	p := NewReadBufs(4<<10, 64<<10)
	b := p.Get(1)
	copy(*b, "abcdef")
	b = p.Grow(b, 6)
	if len(*b) != 8<<10 || string((*b)[:6]) != "abcdef" {
		t.Fatalf("Grow: %d bytes, %q", len(*b), (*b)[:6])
	}
	for len(*b) < 64<<10 {
		b = p.Grow(b, 6)
	}
	if b = p.Grow(b, 6); len(*b) != 64<<10 || string((*b)[:6]) != "abcdef" {
		t.Fatalf("Grow at Max: %d bytes", len(*b))
	}
}

func TestReadBufsNoAllocs(t *testing.T) {
	p := NewReadBufs(4<<10, 64<<10)
	p.Put(p.Get(100))
	if n := testing.AllocsPerRun(100, func() { p.Put(p.Get(100)) }); n != 0 {
		t.Errorf("Get+Put: %v allocations, want 0", n)
	}
}
