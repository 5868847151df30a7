package engine

import "testing"

// Give wakes the listeners only when it refills a spent budget.
func TestAcceptBudget(t *testing.T) {
	b := NewAcceptBudget(2)
	woken := 0
	b.OnGive(func() { woken++ })
	b.OnGive(func() { woken++ })
	b.Take()
	b.Give(1) // never spent: nobody waits
	if woken != 0 || b.Left() != 2 {
		t.Fatalf("after take and give: %d wake-ups, %d left; want 0 and 2", woken, b.Left())
	}
	b.Take()
	b.Take()
	b.Take() // a listener racing the last unit
	if b.Left() != -1 {
		t.Fatalf("left %d, want -1", b.Left())
	}
	b.Give(1) // still none left
	if woken != 0 {
		t.Fatalf("%d wake-ups with nothing left", woken)
	}
	b.Give(1)
	if woken != 2 || b.Left() != 1 {
		t.Fatalf("after the refill: %d wake-ups, %d left; want 2 (both listeners) and 1", woken, b.Left())
	}
}
