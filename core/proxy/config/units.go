package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxTimer is HAProxy's largest timer: its timers are signed 32-bit
// milliseconds, and larger values are rejected as an overflow.
const maxTimer = (1<<31 - 1) * time.Millisecond

// parseTime reads an HAProxy time: a decimal number and an optional unit
// (us, ms, s, m, h, d). A bare number is in milliseconds, HAProxy's default
// unit for every keyword used here.
func parseTime(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid time '%s': expects a number with an optional unit (us, ms, s, m, h, d)", s)
	}
	n, err := strconv.ParseUint(s[:i], 10, 63)
	if err != nil {
		return 0, fmt.Errorf("invalid time '%s': number out of range", s)
	}
	unit := time.Millisecond
	switch s[i:] {
	case "", "ms":
	case "us":
		unit = time.Microsecond
	case "s":
		unit = time.Second
	case "m":
		unit = time.Minute
	case "h":
		unit = time.Hour
	case "d":
		unit = 24 * time.Hour
	default:
		return 0, fmt.Errorf("invalid time '%s': unknown unit '%s' (us, ms, s, m, h, d)", s, s[i:])
	}
	if n > uint64(maxTimer/unit) {
		return 0, fmt.Errorf("timer overflow in '%s': the largest time is 2147483647ms", s)
	}
	return time.Duration(n) * unit, nil
}

// parseSize reads a byte size: a number with an optional k, m or g suffix
// (powers of 1024), as HAProxy's size arguments.
func parseSize(s string) (int, error) {
	mult := 1
	t := strings.ToLower(s)
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "m"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "g"):
		mult, t = 1<<30, t[:len(t)-1]
	}
	n, err := strconv.ParseUint(t, 10, 31)
	if err != nil || uint64(n)*uint64(mult) > 1<<31-1 {
		return 0, fmt.Errorf("invalid size '%s'", s)
	}
	return int(n) * mult, nil
}

// parseInt reads a non-negative decimal integer no larger than max.
func parseInt(s string, max int) (int, error) {
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil || int(n) > max {
		return 0, fmt.Errorf("invalid number '%s' (expects an integer from 0 to %d)", s, max)
	}
	return int(n), nil
}
