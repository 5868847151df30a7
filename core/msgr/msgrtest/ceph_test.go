package msgrtest

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func TestMAuthFrontIsTheSpecVector(t *testing.T) { // spec §9.3
	want, _ := hex.DecodeString(strings.Join(strings.Fields(`0000000000000000 ffff 0000000000000000 00000000 1e000000
		01 01000000 01000000 08000000 05000000 61646d696e 0000000000000000 00000000`), ""))
	if got := MAuthFront(8, "admin", []uint32{AuthNone}, 0, 0); !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
}

func TestDecodeMonReplies(t *testing.T) { // spec §15.2 observed bytes
	b, _ := hex.DecodeString("01000000000000000110000000000000000000000000000000")
	r, err := DecodeAuthReply(b[:24])
	if err != nil || r.Protocol != 1 || r.Result != 0 || r.GlobalID != 4097 {
		t.Fatalf("%+v %v", r, err)
	}
	v, _ := hex.DecodeString("050000000000000001000000000000000100000000000000")
	g, err := DecodeMonGetVersionReply(v)
	if err != nil || g.Handle != 5 || g.Version != 1 || g.Oldest != 1 {
		t.Fatalf("%+v %v", g, err)
	}
}
