package wire2

import "fmt"

// Tag is a frame's type (frames_v2.h enum class Tag).
type Tag uint8

// Frame tags.
const (
	TagHello                Tag = 1
	TagAuthRequest          Tag = 2
	TagAuthBadMethod        Tag = 3
	TagAuthReplyMore        Tag = 4
	TagAuthRequestMore      Tag = 5
	TagAuthDone             Tag = 6
	TagAuthSignature        Tag = 7
	TagClientIdent          Tag = 8
	TagServerIdent          Tag = 9
	TagIdentMissingFeatures Tag = 10
	TagSessionReconnect     Tag = 11
	TagSessionReset         Tag = 12
	TagSessionRetry         Tag = 13
	TagSessionRetryGlobal   Tag = 14
	TagSessionReconnectOK   Tag = 15
	TagWait                 Tag = 16
	TagMessage              Tag = 17
	TagKeepalive2           Tag = 18
	TagKeepalive2Ack        Tag = 19
	TagAck                  Tag = 20
)

var tagNames = [...]string{
	TagHello: "HELLO", TagAuthRequest: "AUTH_REQUEST", TagAuthBadMethod: "AUTH_BAD_METHOD",
	TagAuthReplyMore: "AUTH_REPLY_MORE", TagAuthRequestMore: "AUTH_REQUEST_MORE",
	TagAuthDone: "AUTH_DONE", TagAuthSignature: "AUTH_SIGNATURE",
	TagClientIdent: "CLIENT_IDENT", TagServerIdent: "SERVER_IDENT",
	TagIdentMissingFeatures: "IDENT_MISSING_FEATURES", TagSessionReconnect: "SESSION_RECONNECT",
	TagSessionReset: "SESSION_RESET", TagSessionRetry: "SESSION_RETRY",
	TagSessionRetryGlobal: "SESSION_RETRY_GLOBAL", TagSessionReconnectOK: "SESSION_RECONNECT_OK",
	TagWait: "WAIT", TagMessage: "MESSAGE", TagKeepalive2: "KEEPALIVE2",
	TagKeepalive2Ack: "KEEPALIVE2_ACK", TagAck: "ACK",
}

// Known reports whether Ceph defines the tag.
func (t Tag) Known() bool { return t >= TagHello && t <= TagAck }

func (t Tag) String() string {
	if t.Known() {
		return tagNames[t]
	}
	return fmt.Sprintf("tag%d", uint8(t))
}
