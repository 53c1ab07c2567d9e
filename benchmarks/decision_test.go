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
		rows := Compare(base, &Results{Ratios: tc.cur}, tc.tolerance)
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

// A gate run over part of the suite (--scenarios) judges the ratios of the
// scenarios it ran, and only those; a ratio of a scenario it ran but could
// not compute still fails.
func TestCompareJudgesOnlyTheRatiosOfScenariosRun(t *testing.T) {
	base := Baseline{Schema: SchemaVersion, Tolerance: 0.1, Ratios: map[string]BaselineRatio{
		"consume msg/s chronik/kfake":       {Value: 1.4, HigherIsBetter: true},
		"produce-acks1 msg/s chronik/kfake": {Value: 1.0, HigherIsBetter: true},
		"produce-acks1 cpu/M chronik/kfake": {Value: 1.0},
	}}
	res := &Results{Scenarios: []Scenario{{Name: ScenarioProduceAcks1}},
		Ratios: []RatioResult{{Name: "produce-acks1 msg/s chronik/kfake", Value: 1.0}}}
	rows := Compare(base, res, 0)
	if len(rows) != 2 || rows[0].Name != "produce-acks1 cpu/M chronik/kfake" || rows[0].Pass || !rows[1].Pass {
		t.Fatalf("rows = %+v", rows)
	}
	if got := strings.Join(rows[0].Scenarios, ","); got != ScenarioProduceAcks1+","+ScenarioProduceAcks1 {
		t.Fatalf("a missing ratio names its scenarios for the retry: %q", got)
	}
}

func TestGateFailuresSayWhatMovedAndHowToReproduce(t *testing.T) {
	b := Baseline{Schema: SchemaVersion, Tolerance: 0.1,
		Ratios: map[string]BaselineRatio{"produce-acks1 msg/s chronik/kfake": {Value: 1.0, HigherIsBetter: true}},
		Figures: map[string]Figure{ScenarioProduceAcks1 + "/" + Chronik: {MsgPerSec: 1.5e6},
			ScenarioProduceAcks1 + "/" + Kfake: {MsgPerSec: 1.5e6}}}
	res := &Results{Scenarios: []Scenario{{Name: ScenarioProduceAcks1}},
		Ratios: []RatioResult{{Name: "produce-acks1 msg/s chronik/kfake", Value: 0.8, Pairs: 56, Scenarios: []string{ScenarioProduceAcks1}}},
		Summaries: []Summary{{Scenario: ScenarioProduceAcks1, System: Chronik, MsgPerSec: 1.2e6},
			{Scenario: ScenarioProduceAcks1, System: Kfake, MsgPerSec: 1.5e6}}}
	rows := Compare(b, res, 0)
	var out strings.Builder
	WriteGateFailures(&out, rows, func(scs []string) string { return "bin/chronik-bench gate --scenarios " + strings.Join(scs, ",") })
	for _, want := range []string{
		"FAIL produce-acks1 msg/s chronik/kfake: 0.800, fell 20.0% below baseline 1.000 (limit >= 0.900, tolerance 10.0%), from 56 pair ratios",
		"chronik produce-acks1 1.200M msg/s (baseline run 1.500M, -20.0%); kfake produce-acks1 1.500M msg/s (baseline run 1.500M, +0.0%)",
		"reproduce: bin/chronik-bench gate --scenarios produce-acks1",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("failure report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRetryTakesFailingScenariosWithTheirSliceGroups(t *testing.T) {
	s := Suite{Scenarios: []Scenario{{Name: "a", Slices: 2, SliceGroup: "g"}, {Name: "b", Slices: 2, SliceGroup: "g"}, {Name: "c"}, {Name: "d"}}}
	rows := []GateRow{{Name: "x", Pass: true, Scenarios: []string{"c"}}, {Name: "y", Scenarios: []string{"d", "b"}}}
	if got := names(retryScenarios(s, rows)); strings.Join(got, ",") != "a,b,d" {
		t.Fatalf("retry %v, want a,b (the group of b), d, in suite order", got)
	}
	rows = append(rows, GateRow{Name: "missing"})
	if got := retryScenarios(s, rows); len(got) != 4 {
		t.Fatalf("a failing row with no scenarios should retry all, got %v", names(got))
	}
	if u := units(s.Scenarios); len(u) != 3 || len(u[0]) != 2 {
		t.Fatalf("units = %v, want the group, c, d", u)
	}
}

func TestNewBaselineKeepsOnlyGatedRatios(t *testing.T) {
	res := &Results{Ratios: []RatioResult{{Name: "g", Value: 1.2, Gated: true, HigherIsBetter: true}, {Name: "info", Value: 3}},
		Summaries: []Summary{{Scenario: "s", System: Chronik, MsgPerSec: 5, CPUSecPerMillion: 0.2}}}
	b := NewBaseline(res, 0.1, 4, true)
	if len(b.Ratios) != 1 || b.Ratios["g"].Value != 1.2 || !b.Ratios["g"].HigherIsBetter || b.Schema != SchemaVersion {
		t.Fatalf("baseline = %+v", b)
	}
	if f := b.Figures["s/"+Chronik]; f.MsgPerSec != 5 || f.CPUSecPerMillion != 0.2 {
		t.Fatalf("figures = %+v", b.Figures)
	}
}

// The spread counts how far the value of gateRounds consecutive rounds
// strays: a ratio whose rounds shift together (a change of load on the
// machine) is noisier to the gate than one whose rounds scatter alone.
func TestNoiseSpreadSeesRoundsThatMoveTogether(t *testing.T) {
	var step, alternating []float64
	for i := 0; i < 16; i++ {
		step = append(step, []float64{1, 1.2}[i/8])
		alternating = append(alternating, []float64{1, 1.2}[i%2])
	}
	sigma := 1.4826 * math.Log(1.2) / 2 // of single rounds, both series
	if got, want := NoiseSpread(alternating, 4), sigma/4; math.Abs(got-want) > 1e-9 {
		t.Errorf("NoiseSpread(alternating) = %v, want the baseline's own %v (every 4 rounds have the same IQM)", got, want)
	}
	if got := NoiseSpread(step, 4); got < 3*NoiseSpread(alternating, 4) {
		t.Errorf("NoiseSpread(step) = %v: rounds that move together must count as noise", got)
	}
	if !math.IsNaN(NoiseSpread([]float64{1, 1, 1, 1}, 4)) {
		t.Error("four rounds cannot give the spread of a four-round gate")
	}
}

func TestNoiseToleranceWidensOnlyForNoisyRatios(t *testing.T) {
	quiet := []float64{1, 1.01, 0.99, 1, 1, 1.01, 0.99, 1, 1, 1.01}
	for _, tc := range []struct {
		spread, want float64
	}{
		{0.01, 0.075},            // 3 spreads = 3%: the floor
		{0.03, 0.1},              // 9% rounded up to 10%
		{0.04, 0.125},            // 12%
		{0.5, MaxNoiseTolerance}, // capped
		{math.NaN(), 0.075},
	} {
		if got := NoiseTolerance(tc.spread, 0.075); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("NoiseTolerance(%v) = %v, want %v", tc.spread, got, tc.want)
		}
	}
	noisy := []float64{1, 1.2, 0.8, 1.1, 0.9, 1.25, 0.85}
	durable := "produce-acks-1 msg/s chronik/kfake"
	res := &Results{Ratios: []RatioResult{
		{Name: "quiet", Value: 1, PerRound: quiet, Gated: true},
		{Name: "noisy", Value: 1, PerRound: noisy, Gated: true},
		{Name: durable, Value: 1, PerRound: quiet, Gated: true},
	}}
	b := NewBaseline(res, 0.075, 4, true)
	if b.Ratios["quiet"].Tolerance != 0 || b.Ratios["noisy"].Tolerance <= 0.075 || b.Ratios[durable].Tolerance != durableTolerance {
		t.Fatalf("tolerances: %+v", b.Ratios)
	}
	if r := b.Ratios["noisy"]; math.Abs(r.Detects-(r.Tolerance+1.645*r.Spread)) > 1e-12 {
		t.Fatalf("detects = %v for %+v", r.Detects, r)
	}
	if b := NewBaseline(res, 0.075, 4, false); b.Ratios["noisy"].Tolerance != 0 {
		t.Fatal("widen=false must keep the default tolerance")
	}
}
