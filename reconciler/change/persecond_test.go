package change

import (
	"testing"
	"time"
)

// TestPerSecond: samples of one instance, KPI and role within a second
// become one row holding their mean and count; anything else stays apart.
func TestPerSecond(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	var in []KPISample
	for i := range 20 { // a 20/s probe: 20 samples in one second
		in = append(in, KPISample{Version: 1, Instance: "a", KPI: "latency:p", Role: "canary", Value: float64(i), At: t0.Add(time.Duration(i) * 50 * time.Millisecond)})
	}
	in = append(in,
		KPISample{Version: 1, Instance: "b", KPI: "latency:p", Role: "control", Value: 7, At: t0},
		KPISample{Version: 1, Instance: "a", KPI: "latency:p", Role: "canary", Value: 100, At: t0.Add(time.Second)},
		KPISample{Version: 1, Instance: "a", KPI: "latency:p", Role: "canary", Value: 3, N: 3, At: t0.Add(1500 * time.Millisecond)})
	out := PerSecond(in)
	if len(out) != 3 {
		t.Fatalf("%d rows: %+v", len(out), out)
	}
	if out[0].N != 20 || out[0].Value != 9.5 || !out[0].At.Equal(t0) {
		t.Errorf("first second of a: %+v, want mean 9.5 of 20", out[0])
	}
	if out[1].Instance != "b" || out[1].N != 1 || out[1].Value != 7 {
		t.Errorf("b: %+v", out[1])
	}
	if out[2].N != 4 || out[2].Value != (100+3*3)/4.0 {
		t.Errorf("second second of a: %+v, want the weighted mean of 4", out[2])
	}
}
