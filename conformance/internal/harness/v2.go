package harness

import (
	"fmt"
	"sort"
	"strings"
)

// V2Mode says whether a messenger case runs over msgr2 too.
type V2Mode string

const (
	// V2None: not a messenger case (proxy, haproxy interop).
	V2None V2Mode = ""
	// V2Runs: a variant "<id>@v2" runs the case with every messenger
	// process on msgr2.1 crc mode (T.V2 tells the case).
	V2Runs V2Mode = "runs"
	// V2Lossless: the variant keeps the case's lossless policies (msgr2
	// SESSION_RECONNECT, resend and ACKs); a V2Runs variant runs lossy ones.
	V2Lossless V2Mode = "lossless"
	// V2V1Wire: the case speaks raw msgr1 bytes (conformance/internal/msgr1)
	// to the engine; it has no msgr2 variant.
	V2V1Wire V2Mode = "v1 wire bytes"
	// V2NoWire: the case checks the command line only; no wire to vary.
	V2NoWire V2Mode = "no wire"
	// V2Declared: no variant yet, for the reason given (not an engine limit).
	V2Declared V2Mode = "declared"
	// V2Both: the case itself runs msgr1 and msgr2 (one server listening
	// on both); its v1 cell covers both, so it has no variant.
	V2Both V2Mode = "both"
)

// V2Plan is a case's place in the v2 column group.
type V2Plan struct {
	Mode   V2Mode `json:"mode"`
	Reason string `json:"reason,omitempty"`
}

// V1WireReason explains a V2V1Wire declaration.
const V1WireReason = "v1 wire bytes: the case drives the engine with raw msgr1 bytes from conformance/internal/msgr1 (banner, connect, tags, crcs of msgr1), which msgr2 does not have; msgr2's codec is checked by core/msgr/proto2 and wire2, and the engine-to-engine @v2 variants here"

// NoWireReason explains a V2NoWire declaration.
const NoWireReason = "no messenger wire: the case checks the command line or the process only"

// BothReason explains a V2Both plan.
const BothReason = "msgr1 and msgr2 in the case itself: one msgr-server listens on both protocols and serves a v1 and a v2 client, so its v1 cell is the v2 result too"

// V2Variants derives the msgr2 variant of every case whose plan is
// V2Runs or V2Lossless: the same Run, ID "<id>@v2", Protocol "v2".
func V2Variants(cs []Case) []Case {
	var out []Case
	for _, c := range cs {
		if c.V2.Mode != V2Runs && c.V2.Mode != V2Lossless {
			continue
		}
		v := c
		v.ID, v.Base, v.Protocol = c.ID+"@v2", c.ID, "v2"
		v.Spec = c.Spec + "; over v2: spec/messenger.md msgr2 in the messenger"
		v.Desc = "over msgr2.1 (crc mode): " + c.Desc
		if c.V2.Reason != "" {
			v.Desc += " (over v2: " + c.V2.Reason + ")"
		}
		out = append(out, v)
	}
	return out
}

// v2Label is the cell text of a base case with no variant, in the v2
// column group.
func v2Label(p V2Plan) string {
	switch p.Mode {
	case V2V1Wire:
		return "v1 wire bytes"
	case V2NoWire:
		return "no wire"
	case V2Declared:
		return "declared"
	case V2Both:
		return "in v1 cell"
	}
	return "–"
}

// v2Reason is the one-line reason of a declaration without a variant.
func v2Reason(p V2Plan) string {
	switch p.Mode {
	case V2V1Wire:
		if p.Reason != "" {
			return V1WireReason + " (" + p.Reason + ")"
		}
		return V1WireReason
	case V2NoWire:
		return NoWireReason
	case V2Both:
		return BothReason
	}
	return p.Reason
}

// v2Section writes the matrix.md section that explains the v2 column
// group: the variants that ran, the declarations and their reasons.
func v2Section(b *strings.Builder, cases []Case) {
	byReason := map[string][]string{}
	var runs, lossless []string
	for _, c := range cases {
		if c.Protocol != "" {
			continue
		}
		switch c.V2.Mode {
		case V2Runs:
			runs = append(runs, "`"+c.ID+"`")
		case V2Lossless:
			lossless = append(lossless, "`"+c.ID+"`")
		case V2None:
		default:
			r := v2Reason(c.V2)
			byReason[r] = append(byReason[r], "`"+c.ID+"`")
		}
	}
	b.WriteString("\n## msgr2: the v2 column group\n\n")
	b.WriteString("The `v2:` columns of the msgr and interop tables are each case's variant `<case>@v2`: the same case with every messenger process on msgr2.1 in crc mode (`msgr-server --protocol v2`, whose READY address `v2:IP:PORT/NONCE` the clients dial; lossy policies, except the variants listed as lossless below, which keep the case's lossless ones), and ceph-mon on its v2 port. A cell without a variant says why instead.\n\n")
	fmt.Fprintf(b, "- Run over v2 (%d): %s\n", len(runs), strings.Join(runs, ", "))
	fmt.Fprintf(b, "- Run over v2 with lossless sessions (%d): %s\n", len(lossless), strings.Join(lossless, ", "))
	reasons := make([]string, 0, len(byReason))
	for r := range byReason {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(b, "- No variant (%d), %s: %s\n", len(byReason[r]), r, strings.Join(byReason[r], ", "))
	}
}
