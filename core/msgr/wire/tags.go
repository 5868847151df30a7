package wire

import "fmt"

// Tag is the first byte of a connect_reply and of every OPENED-state frame (§7.1).
type Tag uint8

// Tags.
const (
	TagReady               Tag = 1
	TagResetSession        Tag = 2
	TagWait                Tag = 3
	TagRetrySession        Tag = 4
	TagRetryGlobal         Tag = 5
	TagClose               Tag = 6
	TagMsg                 Tag = 7
	TagAck                 Tag = 8
	TagKeepalive           Tag = 9
	TagBadProtoVer         Tag = 10
	TagBadAuthorizer       Tag = 11
	TagFeatures            Tag = 12
	TagSeq                 Tag = 13
	TagKeepalive2          Tag = 14
	TagKeepalive2Ack       Tag = 15
	TagChallengeAuthorizer Tag = 16
)

var tagNames = [...]string{
	TagReady: "READY", TagResetSession: "RESETSESSION", TagWait: "WAIT",
	TagRetrySession: "RETRY_SESSION", TagRetryGlobal: "RETRY_GLOBAL", TagClose: "CLOSE",
	TagMsg: "MSG", TagAck: "ACK", TagKeepalive: "KEEPALIVE", TagBadProtoVer: "BADPROTOVER",
	TagBadAuthorizer: "BADAUTHORIZER", TagFeatures: "FEATURES", TagSeq: "SEQ",
	TagKeepalive2: "KEEPALIVE2", TagKeepalive2Ack: "KEEPALIVE2_ACK",
	TagChallengeAuthorizer: "CHALLENGE_AUTHORIZER",
}

func (t Tag) String() string {
	if int(t) < len(tagNames) && tagNames[t] != "" {
		return tagNames[t]
	}
	return fmt.Sprintf("TAG(%d)", uint8(t))
}

// FramePayloadLen is the fixed payload length after the tag byte of an
// OPENED-state frame other than MSG, and ok=false for tags that are not
// OPENED-state frames (§7.4: an unknown tag there is a fault).
func FramePayloadLen(t Tag) (n int, ok bool) {
	switch t {
	case TagClose, TagKeepalive:
		return 0, true
	case TagAck:
		return 8, true
	case TagKeepalive2, TagKeepalive2Ack:
		return TimespecLen, true
	case TagMsg:
		return HeaderLen, true
	}
	return 0, false
}
