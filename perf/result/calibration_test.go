package result

import (
	"math"
	"testing"
)

func TestCalibrationMoved(t *testing.T) {
	cal := func(cpu, tcp float64) *Calibration { return &Calibration{CPUNsPerIter: cpu, TCPP50US: tcp} }
	for _, tc := range []struct {
		name       string
		state      *MachineState
		wantMoved  []string
		wantFigure int
	}{
		{"no calibration", nil, nil, 0},
		{"start only", &MachineState{Start: cal(1000, 20)}, nil, 0},
		{"steady", &MachineState{Start: cal(1000, 20), End: cal(1050, 19)}, nil, 2},
		{"just within 10 %", &MachineState{Start: cal(1000, 20), End: cal(1099, 18.1)}, nil, 2},
		{"CPU slower", &MachineState{Start: cal(1000, 20), End: cal(1200, 20.5)}, []string{"CPU loop"}, 2},
		{"TCP floor faster", &MachineState{Start: cal(1000, 50), End: cal(1000, 18)}, []string{"raw TCP 64 B ping-pong p50"}, 2},
		{"both", &MachineState{Start: cal(1000, 20), End: cal(800, 40)}, []string{"CPU loop", "raw TCP 64 B ping-pong p50"}, 2},
		{"ping-pong failed at the end", &MachineState{Start: cal(1000, 20), End: cal(1500, 0)}, []string{"CPU loop"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range tc.state.Moved() {
				got = append(got, f.Name)
			}
			if len(got) != len(tc.wantMoved) {
				t.Fatalf("moved %q, want %q", got, tc.wantMoved)
			}
			for i := range got {
				if got[i] != tc.wantMoved[i] {
					t.Fatalf("moved %q, want %q", got, tc.wantMoved)
				}
			}
			if tc.state != nil {
				if n := len(CompareCalibrations(tc.state.Start, tc.state.End)); n != tc.wantFigure {
					t.Fatalf("%d figures compared, want %d", n, tc.wantFigure)
				}
			}
		})
	}
}

func TestCalibrationDiffers(t *testing.T) {
	run := func(s *MachineState) *Run { return &Run{Calibration: s} }
	steady := &MachineState{Start: &Calibration{CPUNsPerIter: 1000, TCPP50US: 18}, End: &Calibration{CPUNsPerIter: 1020, TCPP50US: 19}}
	if typ := steady.Typical(); typ.CPUNsPerIter != 1010 || typ.TCPP50US != 18.5 {
		t.Fatalf("typical: %+v", typ)
	}
	for _, tc := range []struct {
		name string
		b    *MachineState
		want int
	}{
		{"same machine", &MachineState{Start: &Calibration{CPUNsPerIter: 990, TCPP50US: 19.5}, End: &Calibration{CPUNsPerIter: 1000, TCPP50US: 18.5}}, 0},
		// The case: the raw floor 18.4 µs on one day, 52.6 on another.
		{"slower floor", &MachineState{Start: &Calibration{CPUNsPerIter: 1000, TCPP50US: 52.6}, End: &Calibration{CPUNsPerIter: 1010, TCPP50US: 52}}, 1},
		{"end only", &MachineState{End: &Calibration{CPUNsPerIter: 1500, TCPP50US: 18}}, 1},
		{"no calibration", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := CalibrationDiffers(run(steady), run(tc.b))
			if len(d) != tc.want {
				t.Fatalf("differs %v, want %d figures", d, tc.want)
			}
			for _, f := range d {
				if math.Abs(f.Diff) <= CalibrationTolerance {
					t.Fatalf("figure within tolerance reported: %v", f)
				}
			}
		})
	}
}
