package wire

// Feature bits that change the msgr1 wire or handshake (§14.1).
const (
	FeatureNoSrcAddr      uint64 = 1 << 1
	FeatureReconnectSeq   uint64 = 1 << 6
	FeatureMsgAuth        uint64 = 1 << 23
	FeatureServerLuminous uint64 = 1 << 21
	FeatureMsgrKeepalive2 uint64 = 1 << 42
	FeatureCephxV2        uint64 = 1 << 61
)

// FeaturesAll is CEPH_FEATURES_ALL of Ceph 16.2.15 (§14.2): the 16.2.10
// value 0x3f01cfb9fffdffff plus bit 34 (RANGE_BLOCKLIST), what a 16.2.15 mon
// and client advertise.
const FeaturesAll uint64 = 0x3f01cfbdfffdffff

// FeaturesPacific1610 is CEPH_FEATURES_ALL computed from the v16.2.10 source.
const FeaturesPacific1610 uint64 = 0x3f01cfb9fffdffff

// MonClientRequired is what a fresh single-mon Pacific cluster required of
// clients (the CRUSH bits, §14.3), handy as a test value.
const MonClientRequired uint64 = 0x0401020002040000
