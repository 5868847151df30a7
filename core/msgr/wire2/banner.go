package wire2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
)

// BannerPrefix opens every msgr2 connection, sent by both sides at once.
const BannerPrefix = "ceph v2\n"

// msgr2 feature bits exchanged in the banner (Ceph's CEPH_MSGR2_FEATURE_*),
// not to be confused with the Ceph feature bits of CLIENT_IDENT.
const (
	FeatureRevision1   uint64 = 1 << 0 // msgr2.1: inline segment-0 crc, late_status epilogue, new secure nonces
	FeatureCompression uint64 = 1 << 1 // on-wire compression (Quincy and later)
)

// Our banner: msgr2.1 supported, nothing required (Pacific's
// CEPH_MSGR2_SUPPORTED_FEATURES / CEPH_MSGR2_REQUIRED_FEATURES).
const (
	SupportedFeatures = FeatureRevision1
	RequiredFeatures  = uint64(0)
)

// v1Banner is msgr1's banner, which an msgr1 peer sends on an msgr2 port.
var v1Banner = []byte("ceph v027")

// bannerFeaturesLen is the payload Ceph writes: two u64.
const bannerFeaturesLen = 16

// BannerLen is the size of the banner Ceph and AppendBanner write.
const BannerLen = len(BannerPrefix) + 2 + bannerFeaturesLen

// ErrBadBanner reports bytes that are not an msgr2 banner; ErrV1Banner an
// msgr1 peer ("ceph v027") on an msgr2 port.
var (
	ErrBadBanner = errors.New("msgr2 wire: bad banner")
	ErrV1Banner  = errors.New("msgr2 wire: peer speaks msgr1 (banner \"ceph v027\")")
)

// Banner is the peer's banner payload.
type Banner struct {
	Supported uint64
	Required  uint64
}

// AppendBanner appends the prefix, the le16 payload length and the two
// feature words.
func AppendBanner(b []byte, bn Banner) []byte {
	b = append(b, BannerPrefix...)
	b = binary.LittleEndian.AppendUint16(b, bannerFeaturesLen)
	b = binary.LittleEndian.AppendUint64(b, bn.Supported)
	return binary.LittleEndian.AppendUint64(b, bn.Required)
}

// DecodeBanner decodes a banner. A wrong prefix fails as soon as a byte
// differs from both banners: msgr1's ("ceph v027") is named only once all
// of it is in, so the answer never depends on how the bytes were cut
// ("ceph v0" is short, "ceph v00" bad). The payload length is what the peer claims (≤ 65535 by its
// type): fewer than 16 bytes is malformed, more are skipped as Ceph skips
// them (a later revision may append fields).
func DecodeBanner(b []byte) (Banner, int, error) {
	n := min(len(b), len(BannerPrefix))
	if string(b[:n]) != BannerPrefix[:n] {
		switch {
		case bytes.HasPrefix(b, v1Banner):
			return Banner{}, 0, ErrV1Banner
		case bytes.HasPrefix(v1Banner, b):
			return Banner{}, 0, ErrShort
		}
		return Banner{}, 0, ErrBadBanner
	}
	if len(b) < len(BannerPrefix)+2 {
		return Banner{}, 0, ErrShort
	}
	plen := int(binary.LittleEndian.Uint16(b[len(BannerPrefix):]))
	if plen < bannerFeaturesLen {
		return Banner{}, 0, frameErr(0, len(BannerPrefix), "banner payload of %d bytes, want at least %d", plen, bannerFeaturesLen)
	}
	end := len(BannerPrefix) + 2 + plen
	if len(b) < end {
		return Banner{}, 0, ErrShort
	}
	p := b[len(BannerPrefix)+2:]
	return Banner{Supported: binary.LittleEndian.Uint64(p), Required: binary.LittleEndian.Uint64(p[8:])}, end, nil
}

// Negotiate applies Ceph's banner check (ProtocolV2::_handle_peer_banner_payload)
// to our banner and the peer's: each side must support what the other
// requires, else *FeatureError and the connection closes. It reports
// whether both speak msgr2.1 (the peer supports REVISION_1); this package
// encodes and decodes msgr2.1 frames only.
func Negotiate(ours, peer Banner) (rev1 bool, err error) {
	if missing := ours.Required &^ peer.Supported; missing != 0 {
		return false, &FeatureError{Ours: true, Missing: missing}
	}
	if missing := peer.Required &^ ours.Supported; missing != 0 {
		return false, &FeatureError{Missing: missing}
	}
	return peer.Supported&FeatureRevision1 != 0, nil
}

// FeatureNames names msgr2 feature bits for errors and logs.
func FeatureNames(f uint64) string {
	var names []string
	for _, x := range []struct {
		bit  uint64
		name string
	}{{FeatureRevision1, "REVISION_1"}, {FeatureCompression, "COMPRESSION"}} {
		if f&x.bit != 0 {
			names = append(names, x.name)
			f &^= x.bit
		}
	}
	if f != 0 {
		names = append(names, "unknown bits")
	}
	return strings.Join(names, "|")
}
