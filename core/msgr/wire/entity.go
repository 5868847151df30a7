package wire

import (
	"fmt"
	"strconv"
	"strings"
)

// EntityType is a Ceph entity type (§1): u8 in names, u32 in connect.
type EntityType uint8

// Entity types.
const (
	EntityMon    EntityType = 0x01
	EntityMDS    EntityType = 0x02
	EntityOSD    EntityType = 0x04
	EntityClient EntityType = 0x08
	EntityMgr    EntityType = 0x10
	EntityAuth   EntityType = 0x20
	EntityAny    EntityType = 0xFF
)

var entityNames = map[EntityType]string{
	EntityMon: "mon", EntityMDS: "mds", EntityOSD: "osd", EntityClient: "client",
	EntityMgr: "mgr", EntityAuth: "auth", EntityAny: "any",
}

func (t EntityType) String() string {
	if s, ok := entityNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type%d", uint8(t))
}

// ParseEntityType parses "mon", "osd", ... .
func ParseEntityType(s string) (EntityType, error) {
	for t, n := range entityNames {
		if n == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("msgr wire: unknown entity type %q", s)
}

// EntityName is Ceph's entity_name_t: a type and a number (-1: not yet
// assigned, as a client before authentication).
type EntityName struct {
	Type EntityType
	Num  int64
}

func (n EntityName) String() string { return n.Type.String() + "." + strconv.FormatInt(n.Num, 10) }

// ParseEntityName parses "osd.0", "client.-1", "mon.a" is not accepted
// (numbers only; the id string of a mon lives in its authorizer name).
func ParseEntityName(s string) (EntityName, error) {
	typ, num, ok := strings.Cut(s, ".")
	if !ok {
		return EntityName{}, fmt.Errorf("msgr wire: entity name %q: want TYPE.NUM", s)
	}
	t, err := ParseEntityType(typ)
	if err != nil {
		return EntityName{}, err
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return EntityName{}, fmt.Errorf("msgr wire: entity name %q: %w", s, err)
	}
	return EntityName{Type: t, Num: n}, nil
}
