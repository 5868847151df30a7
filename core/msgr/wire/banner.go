package wire

// Banner is the msgr1 banner both sides send first (§3).
const Banner = "ceph v027"

// BannerLen is len(Banner).
const BannerLen = len(Banner)

// AppendBanner appends the banner.
func AppendBanner(b []byte) []byte { return append(b, Banner...) }

// DecodeBanner checks the banner at the front of b. It reports ErrShort only
// while the bytes seen so far still match, so a wrong first byte fails at
// once instead of waiting for nine bytes.
func DecodeBanner(b []byte) (int, error) {
	n := min(len(b), BannerLen)
	if string(b[:n]) != Banner[:n] {
		return 0, ErrBadBanner
	}
	if n < BannerLen {
		return 0, ErrShort
	}
	return BannerLen, nil
}
