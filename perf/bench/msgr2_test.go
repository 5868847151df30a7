package bench

import "testing"

// TestMsgr2WireLen: the raw-tcp floor of a msgr2 ping-pong echoes the
// message's msgr2.1 crc-mode size: preamble 32 + header 41 + its crc 4,
// and with data the data and the 13-byte epilogue.
func TestMsgr2WireLen(t *testing.T) {
	for size, want := range map[int]int{0: 77, 4096: 32 + 41 + 4 + 4096 + 13} {
		if got := msgr2WireLen(size); got != want {
			t.Errorf("msgr2WireLen(%d) = %d, want %d", size, got, want)
		}
	}
}
