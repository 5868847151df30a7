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

// A reservation given back wakes the listeners only when one of them
// stopped on it, so an idle socket's EAGAIN never makes them spin.
func TestAcceptBudgetReservations(t *testing.T) {
	b := NewAcceptBudget(1)
	woken := 0
	b.OnGive(func() { woken++ })
	b.OnGive(func() { woken++ })
	if !b.TryTake() {
		t.Fatal("TryTake failed with one unit left")
	}
	b.Untake() // EAGAIN: nobody stopped meanwhile
	if woken != 0 || b.Left() != 1 {
		t.Fatalf("after an idle reservation: %d wake-ups, %d left; want 0 and 1", woken, b.Left())
	}
	if !b.TryTake() {
		t.Fatal("TryTake failed with one unit left")
	}
	if b.TryTake() { // the other loop, racing for the same unit
		t.Fatal("two reservations of one unit")
	}
	b.Untake() // the first found nobody: the second must look again
	if woken != 2 || b.Left() != 1 {
		t.Fatalf("after the raced reservation came back: %d wake-ups, %d left; want 2 and 1", woken, b.Left())
	}
	if !b.TryTake() { // the woken loop looks again and finds nobody either
		t.Fatal("TryTake failed with one unit left")
	}
	b.Untake()
	if woken != 2 {
		t.Fatalf("%d wake-ups after a second idle reservation, want 2", woken)
	}
	if !b.TryTake() || b.TryTake() { // one connection taken; the other loop stops
		t.Fatal("reservations do not follow the units left")
	}
	b.Give(1) // the owner refills a budget somebody found empty
	if woken != 4 || b.Left() != 1 {
		t.Fatalf("after the owner's refill: %d wake-ups, %d left; want 4 and 1", woken, b.Left())
	}
}
