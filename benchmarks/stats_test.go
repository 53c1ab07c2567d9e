package benchmarks

import (
	"math"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
)

func TestMedian(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{1, nan, 9, 5}, 5},
		{[]float64{100, 1, 2}, 2}, // one outlier does not move it
	} {
		if got := Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(Median(nil)) || !math.IsNaN(Median([]float64{nan})) {
		t.Error("Median of nothing should be NaN")
	}
}

func TestPairedRatiosPairByRoundOnly(t *testing.T) {
	got := PairedRatios(map[int]float64{0: 10, 1: 30, 2: 8}, map[int]float64{0: 5, 1: 10, 3: 1})
	if len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("PairedRatios = %v, want [2 3]", got)
	}
	if r := Ratio(1, 0); !math.IsNaN(r) {
		t.Fatalf("Ratio(1, 0) = %v, want NaN", r)
	}
}

func TestSummarizeLatencyPercentilesInMs(t *testing.T) {
	h := hdrhistogram.New(1, 120_000_000, 3)
	for us := int64(1); us <= 1000; us++ {
		h.RecordValue(us * 1000) // 1 ms .. 1000 ms
	}
	s := summarizeLatency(h)
	near := func(got, want float64) bool { return math.Abs(got-want) <= want*0.002 }
	if s.Count != 1000 || !near(s.P50Ms, 500) || !near(s.P99Ms, 990) || !near(s.P999Ms, 999) || !near(s.MaxMs, 1000) {
		t.Fatalf("summary = %+v", s)
	}
	if n := len(s.Curve); n != len(curvePercentiles) || s.Curve[n-1].Ms != s.MaxMs {
		t.Fatalf("curve = %+v", s.Curve)
	}
	for i := 1; i < len(s.Curve); i++ {
		if s.Curve[i].Ms < s.Curve[i-1].Ms {
			t.Fatalf("curve not monotone at %d: %+v", i, s.Curve)
		}
	}
	if s := summarizeLatency(nil); s.Count != 0 || s.Curve != nil {
		t.Fatal("empty histogram should give a zero summary")
	}
}

func run(sc, sys string, round, attempt int, msgs, cpu float64) Run {
	return Run{Scenario: sc, System: sys, Round: round, Attempt: attempt, MsgPerSec: msgs, SteadyMsgPerSec: msgs, CPUSecPerMillion: cpu}
}

func TestComputeRatiosMediansOfPerRoundPairsAndRetryReplaces(t *testing.T) {
	runs := []Run{
		run(ScenarioProduceAcks1, Chronik, 0, 0, 200, 1), run(ScenarioProduceAcks1, Kfake, 0, 0, 100, 2),
		run(ScenarioProduceAcks1, Chronik, 1, 0, 50, 1), run(ScenarioProduceAcks1, Kfake, 1, 0, 100, 2),
		run(ScenarioProduceAcks1, Chronik, 2, 0, 300, 1), run(ScenarioProduceAcks1, Kfake, 2, 0, 200, 4),
		run(ScenarioProduceAcksAll, Chronik, 0, 0, 100, 1), run(ScenarioProduceAcksAll, Kfake, 0, 0, 50, 1),
	}
	byName := func(rs []RatioResult) map[string]RatioResult {
		m := map[string]RatioResult{}
		for _, r := range rs {
			m[r.Name] = r
		}
		return m
	}
	got := byName(ComputeRatios(runs))
	if r := got["produce-acks1 msg/s chronik/kfake"]; r.Value != 1.5 || len(r.PerRound) != 3 || !r.HigherIsBetter || !r.Gated {
		t.Fatalf("acks1 ratio = %+v, want median of [2 0.5 1.5] = 1.5", r)
	}
	if r := got["produce-acks1 cpu/M chronik/kfake"]; r.Value != 0.5 || r.HigherIsBetter {
		t.Fatalf("cpu ratio = %+v", r)
	}
	if r := got["chronik acks-1/acks1 msg/s"]; r.Value != 0.5 || len(r.Scenarios) != 2 {
		t.Fatalf("acks ratio = %+v (round 0 only: 100/200)", r)
	}
	if _, ok := got["consume msg/s chronik/kfake"]; ok {
		t.Fatal("ratio of a scenario that did not run")
	}
	// A retry of round 1 replaces the first attempt.
	runs = append(runs, run(ScenarioProduceAcks1, Chronik, 1, 1, 400, 1), run(ScenarioProduceAcks1, Kfake, 1, 1, 100, 2))
	if r := byName(ComputeRatios(runs))["produce-acks1 msg/s chronik/kfake"]; r.Value != 2 {
		t.Fatalf("after retry = %+v, want median of [2 4 1.5] = 2", r)
	}
	for _, s := range Summarize(runs) {
		if s.Scenario == ScenarioProduceAcks1 && s.System == Chronik && (s.Rounds != 3 || s.MsgPerSec != 300) {
			t.Fatalf("summary uses replaced attempt: %+v", s)
		}
	}
}

func TestNewRunSteadyRateIsTheMedianInterval(t *testing.T) {
	sc := Scenario{Name: "s"}
	m := Measurement{Records: 1000, Elapsed: 1e9, IntervalRates: []float64{1000, 1100, 100, 1050, 990}}
	r := NewRun(sc, Chronik, 0, m, 0.5, 1<<20)
	if r.MsgPerSec != 1000 || r.SteadyMsgPerSec != 1000 || r.CPUSecPerMillion != 500 {
		t.Fatalf("run = %+v", r)
	}
	m.IntervalRates = m.IntervalRates[:3] // too few: the mean stands in
	m.Records = 900
	if r := NewRun(sc, Chronik, 0, m, 0, 0); r.SteadyMsgPerSec != 900 {
		t.Fatalf("steady with 3 intervals = %v, want the mean 900", r.SteadyMsgPerSec)
	}
}
