package benchmarks

import (
	"math"
	"strings"
	"testing"
)

func TestGateDecision(t *testing.T) {
	base := Baseline{Schema: SchemaVersion, Tolerance: 0.10, Ratios: map[string]BaselineRatio{
		"up":    {Value: 2.0, HigherIsBetter: true},
		"down":  {Value: 1.0, HigherIsBetter: false},
		"loose": {Value: 1.0, HigherIsBetter: true, Tolerance: 0.5},
	}}
	cur := func(up, down, loose float64) []RatioResult {
		return []RatioResult{{Name: "up", Value: up, Scenarios: []string{"a"}}, {Name: "down", Value: down, Scenarios: []string{"b"}},
			{Name: "loose", Value: loose, Scenarios: []string{"c"}}}
	}
	for _, tc := range []struct {
		name      string
		cur       []RatioResult
		tolerance float64
		wantPass  bool
		wantFail  string
	}{
		{"at baseline", cur(2, 1, 1), 0, true, ""},
		{"exactly at the limits", cur(1.8, 1.1, 0.5), 0, true, ""},
		{"better than baseline", cur(5, 0.2, 3), 0, true, ""},
		{"higher-is-better fell 11%", cur(1.78, 1, 1), 0, false, "up"},
		{"lower-is-better rose 11%", cur(2, 1.11, 1), 0, false, "down"},
		{"per-ratio tolerance", cur(2, 1, 0.49), 0, false, "loose"},
		{"override tolerance widens", cur(1.5, 1, 1), 0.3, true, ""},
		{"override beats per-ratio", cur(2, 1, 0.8), 0.1, false, "loose"},
		{"missing ratio fails", cur(2, 1, 1)[:2], 0, false, "loose"},
		{"zero (no data) fails", cur(0, 1, 1), 0, false, "up"},
	} {
		rows := Compare(base, tc.cur, tc.tolerance)
		if Passed(rows) != tc.wantPass {
			var b strings.Builder
			WriteGateTable(&b, rows)
			t.Errorf("%s: passed=%v, want %v\n%s", tc.name, Passed(rows), tc.wantPass, b.String())
			continue
		}
		for _, r := range rows {
			if !r.Pass && r.Name != tc.wantFail {
				t.Errorf("%s: %s failed (%s), only %q should", tc.name, r.Name, r.Reason, tc.wantFail)
			}
		}
	}
	if Passed(nil) {
		t.Error("an empty comparison must not pass")
	}
}

func TestFailingScenariosAreRetried(t *testing.T) {
	s := Suite{Scenarios: []Scenario{{Name: "a"}, {Name: "b"}, {Name: "c"}}}
	rows := []GateRow{{Name: "x", Pass: true, Scenarios: []string{"a"}}, {Name: "y", Scenarios: []string{"c", "b"}}}
	if got := names(failingScenarios(s, rows)); strings.Join(got, ",") != "b,c" {
		t.Fatalf("retry %v, want b,c in suite order", got)
	}
	rows = append(rows, GateRow{Name: "missing"})
	if got := failingScenarios(s, rows); len(got) != 3 {
		t.Fatalf("a failing row with no scenarios should retry all, got %v", names(got))
	}
}

func TestNewBaselineKeepsOnlyGatedRatios(t *testing.T) {
	res := &Results{Ratios: []RatioResult{{Name: "g", Value: 1.2, Gated: true, HigherIsBetter: true}, {Name: "info", Value: 3}}}
	b := NewBaseline(res, 0.1, true)
	if len(b.Ratios) != 1 || b.Ratios["g"].Value != 1.2 || !b.Ratios["g"].HigherIsBetter || b.Schema != SchemaVersion {
		t.Fatalf("baseline = %+v", b)
	}
}

func TestNoiseToleranceWidensOnlyForNoisyRatios(t *testing.T) {
	for _, tc := range []struct {
		per  []float64
		want float64
	}{
		{[]float64{1.00, 1.01, 0.99, 1.00}, 0.10},          // quiet: the floor
		{[]float64{1.0, 1.1, 0.9, 1.0, 1.2}, 0.30},         // MAD 0.1 -> 3*0.1/1.0
		{[]float64{1.0, 3.0, 0.2, 2.0}, MaxNoiseTolerance}, // capped
		{nil, 0.10},
	} {
		if got := NoiseTolerance(tc.per, 0.10); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("NoiseTolerance(%v) = %v, want %v", tc.per, got, tc.want)
		}
	}
	res := &Results{Ratios: []RatioResult{
		{Name: "quiet", Value: 1, PerRound: []float64{1, 1.01, 0.99}, Gated: true},
		{Name: "noisy", Value: 1, PerRound: []float64{1, 1.2, 0.8}, Gated: true},
	}}
	b := NewBaseline(res, 0.1, true)
	if b.Ratios["quiet"].Tolerance != 0 || b.Ratios["noisy"].Tolerance != MaxNoiseTolerance {
		t.Fatalf("tolerances: %+v", b.Ratios)
	}
	if b := NewBaseline(res, 0.1, false); b.Ratios["noisy"].Tolerance != 0 {
		t.Fatal("widen=false must keep the default tolerance")
	}
}
