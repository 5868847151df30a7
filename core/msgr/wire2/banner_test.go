package wire2

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func TestNegotiate(t *testing.T) {
	ours := Banner{Supported: SupportedFeatures, Required: RequiredFeatures}
	for _, tc := range []struct {
		name     string
		ours     Banner
		peer     Banner
		rev1     bool
		peerLack bool // *FeatureError{Ours: true}
		weLack   bool
		msg      string
	}{
		{name: "pacific", ours: ours, peer: Banner{Supported: FeatureRevision1}, rev1: true},
		{name: "msgr2.0 peer", ours: ours, peer: Banner{}, rev1: false},
		{name: "quincy with compression", ours: ours, peer: Banner{Supported: FeatureRevision1 | FeatureCompression}, rev1: true},
		{name: "peer requires compression", ours: ours, peer: Banner{Supported: 3, Required: FeatureCompression}, weLack: true,
			msg: "peer requires msgr2 features we do not support (0x2: COMPRESSION)"},
		{name: "peer requires an unknown bit", ours: ours, peer: Banner{Supported: 1 << 9, Required: 1 << 9}, weLack: true, msg: "unknown bits"},
		{name: "we require rev1 of a 2.0 peer", ours: Banner{Supported: 1, Required: FeatureRevision1}, peer: Banner{}, peerLack: true,
			msg: "peer does not support the msgr2 features we require (missing 0x1)"},
	} {
		rev1, err := Negotiate(tc.ours, tc.peer)
		var fe *FeatureError
		switch {
		case tc.weLack || tc.peerLack:
			if !errors.As(err, &fe) || fe.Ours != tc.peerLack || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s: %v", tc.name, err)
			}
		case err != nil || rev1 != tc.rev1:
			t.Errorf("%s: rev1 %v err %v", tc.name, rev1, err)
		}
	}
}

func TestDecodeBannerFaults(t *testing.T) {
	long := AppendBanner(nil, Banner{Supported: 1})
	binary.LittleEndian.PutUint16(long[8:], 20) // a later revision's longer payload
	long = append(long, 1, 2, 3, 4)
	bn, n, err := DecodeBanner(long)
	if err != nil || n != len(long) || bn.Supported != 1 {
		t.Errorf("longer payload: %+v n=%d err=%v", bn, n, err)
	}
	short := AppendBanner(nil, Banner{})
	binary.LittleEndian.PutUint16(short[8:], 15)
	var fe *FrameError
	if _, _, err := DecodeBanner(short); !errors.As(err, &fe) {
		t.Errorf("15-byte payload: %v", err)
	}
	for in, want := range map[string]error{
		"ceph v027":   ErrV1Banner,
		"ceph v0":     ErrShort, // msgr1 or not: "ceph v00" is neither
		"ceph v00":    ErrBadBanner,
		"ceph v0279":  ErrV1Banner,
		"GET / HTTP":  ErrBadBanner,
		"ceph v3\n..": ErrBadBanner,
		"c":           ErrShort,
		"ceph v2\n":   ErrShort,
	} {
		if _, _, err := DecodeBanner([]byte(in)); err != want {
			t.Errorf("%q: %v, want %v", in, err, want)
		}
	}
}
