package link

import "testing"

func TestParsePollMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want PollMode
		ok   bool
	}{
		{"", Adaptive, true},
		{"adaptive", Adaptive, true},
		{"spin", Spin, true},
		{"interrupt", Adaptive, false},
	} {
		got, err := ParsePollMode(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParsePollMode(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
