// Package cpuproftest builds synthetic CPU profiles for the tests of the
// packages that read them (cpuprof, report).
package cpuproftest

import (
	"bytes"

	"github.com/google/pprof/profile"
)

// Profile returns a pprof CPU profile with the given sampling period whose
// samples have the given stacks (leaf first) and CPU times in nanoseconds
// (each a multiple of period: samples = cpu/period).
func Profile(periodNS int64, stacks [][]string, cpu []int64) ([]byte, error) {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     periodNS,
	}
	funcs := map[string]*profile.Function{}
	for i, st := range stacks {
		var locs []*profile.Location
		for _, name := range st {
			f := funcs[name]
			if f == nil {
				f = &profile.Function{ID: uint64(len(funcs) + 1), Name: name}
				funcs[name] = f
				p.Function = append(p.Function, f)
			}
			l := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: f}}}
			p.Location = append(p.Location, l)
			locs = append(locs, l)
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: locs, Value: []int64{cpu[i] / periodNS, cpu[i]}})
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
