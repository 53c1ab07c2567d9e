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

func TestIQMIsTheGeometricMeanOfTheMiddleHalf(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{2}, 2},
		{[]float64{1, 4}, 2},                        // fewer than 4: the geometric mean
		{[]float64{100, 1, 4, 2}, math.Sqrt(8)},     // 1 and 100 dropped
		{[]float64{1e-3, 1, 1, 1, 1e3, 1, 1, 1}, 1}, // two outliers of eight dropped
		{[]float64{2, nan, 0, -1, 8}, 4},            // only positive numbers count
	} {
		if got := IQM(tc.in); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("IQM(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(IQM(nil)) || !math.IsNaN(IQM([]float64{0, nan})) {
		t.Error("IQM of nothing should be NaN")
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

func byName(rs []RatioResult) map[string]RatioResult {
	m := map[string]RatioResult{}
	for _, r := range rs {
		m[r.Name] = r
	}
	return m
}

func near(got, want float64) bool { return math.Abs(got-want) <= 1e-9*math.Abs(want) }

func TestComputeRatiosPairRoundsAndPoolAttempts(t *testing.T) {
	runs := []Run{
		run(ScenarioProduceAcks1, Chronik, 0, 0, 200, 1), run(ScenarioProduceAcks1, Kfake, 0, 0, 100, 2),
		run(ScenarioProduceAcks1, Chronik, 1, 0, 50, 1), run(ScenarioProduceAcks1, Kfake, 1, 0, 100, 2),
		run(ScenarioProduceAcks1, Chronik, 2, 0, 300, 1), run(ScenarioProduceAcks1, Kfake, 2, 0, 200, 4),
		run(ScenarioProduceAcksAll, Chronik, 0, 0, 100, 1), run(ScenarioProduceAcksAll, Kfake, 0, 0, 50, 1),
	}
	got := byName(ComputeRatios(runs))
	if r := got["produce-acks1 msg/s chronik/kfake"]; !near(r.Value, math.Cbrt(1.5)) || len(r.PerRound) != 3 || r.PerRound[1] != 0.5 ||
		r.Pairs != 3 || !r.HigherIsBetter || !r.Gated {
		t.Fatalf("acks1 ratio = %+v, want the geometric mean of [2 0.5 1.5]", r)
	}
	if r := got["produce-acks1 cpu/M chronik/kfake"]; !near(r.Value, 0.5*math.Cbrt(0.5)) || r.HigherIsBetter {
		t.Fatalf("cpu ratio = %+v, want the geometric mean of [0.5 0.5 0.25]", r)
	}
	if r := got["chronik acks-1/acks1 msg/s"]; r.Value != 0.5 || len(r.Scenarios) != 2 {
		t.Fatalf("acks ratio = %+v (round 0 only: 100/200)", r)
	}
	if _, ok := got["consume msg/s chronik/kfake"]; ok {
		t.Fatal("ratio of a scenario that did not run")
	}
	// A retry's rounds join the first attempt's: pairs [2 0.5 1.5 4], IQM of [1.5 2].
	runs = append(runs, run(ScenarioProduceAcks1, Chronik, 1, 1, 400, 1), run(ScenarioProduceAcks1, Kfake, 1, 1, 100, 2))
	if r := byName(ComputeRatios(runs))["produce-acks1 msg/s chronik/kfake"]; !near(r.Value, math.Sqrt(3)) || r.Pairs != 4 {
		t.Fatalf("after retry = %+v, want sqrt(3)", r)
	}
	for _, s := range Summarize(runs) {
		if s.Scenario == ScenarioProduceAcks1 && s.System == Chronik && (s.Rounds != 4 || s.MsgPerSec != 250) {
			t.Fatalf("summary of both attempts: %+v", s)
		}
	}
}

func TestComputeRatiosPairSlicesKthWithKth(t *testing.T) {
	sliced := func(sys string, round int, rates ...float64) Run {
		r := Run{Scenario: ScenarioConsume, System: sys, Round: round, Sliced: true, MsgPerSec: 1, CPUSecPerMillion: 1}
		for _, rate := range rates {
			// rate records/s over 1 s, at 1 CPU-s per 1000 records
			r.Intervals = append(r.Intervals, Interval{Seconds: 1, Records: int64(rate), CPUSeconds: rate / 1000})
		}
		return r
	}
	runs := []Run{
		sliced(Chronik, 0, 300, 200, 100, 900), sliced(Kfake, 0, 100, 100, 100, 100), // 3 2 1 9
		sliced(Chronik, 1, 200, 400), sliced(Kfake, 1, 100, 100), // 2 4
	}
	r := byName(ComputeRatios(runs))["consume msg/s chronik/kfake"]
	// Pairs 3 2 1 9 2 4: IQM drops 1 and 9, leaving 2 2 3 4.
	if !near(r.Value, math.Pow(2*2*3*4, 0.25)) || r.Pairs != 6 || len(r.PerRound) != 2 || !near(r.PerRound[0], math.Sqrt(6)) ||
		!near(r.PerRound[1], math.Sqrt(8)) {
		t.Fatalf("sliced ratio = %+v", r)
	}
	if c := byName(ComputeRatios(runs))["consume cpu/M chronik/kfake"]; !near(c.Value, 1) {
		t.Fatalf("equal CPU per record on both: %+v", c)
	}
}

func TestNewRunSteadyFiguresAreIntervalMedians(t *testing.T) {
	sc := Scenario{Name: "s"}
	iv := func(records int64, cpu float64) Interval {
		return Interval{Seconds: 0.2, Records: records, CPUSeconds: cpu}
	}
	// Rates 1000, 1100, 100, 1050, 990 /s; CPU-s per million 500, 400, 5000, 500, 600.
	m := Measurement{Records: 1000, Elapsed: 1e9, Intervals: []Interval{
		iv(200, 0.1), iv(220, 0.088), iv(20, 0.1), iv(210, 0.105), iv(198, 0.1188)}}
	r := NewRun(sc, Chronik, 0, m, 0.5, 1<<20)
	if r.MsgPerSec != 1000 || math.Abs(r.SteadyMsgPerSec-1000) > 1e-9 || r.CPUSecPerMillion != 500 ||
		math.Abs(r.SteadyCPUSecPerMillion-500) > 1e-9 {
		t.Fatalf("run = %+v", r)
	}
	m.Intervals = m.Intervals[:3] // too few: the means stand in
	m.Records = 900
	if r := NewRun(sc, Chronik, 0, m, 0.09, 0); r.SteadyMsgPerSec != 900 || math.Abs(r.SteadyCPUSecPerMillion-100) > 1e-9 {
		t.Fatalf("steady figures with 3 intervals = %v, %v; want the means 900, 100", r.SteadyMsgPerSec, r.SteadyCPUSecPerMillion)
	}
	m.Intervals = []Interval{iv(200, 0), iv(200, 0), iv(200, 0), iv(0, 0), iv(200, 0)} // no CPU reader
	if r := NewRun(sc, Chronik, 0, m, 0.09, 0); math.Abs(r.SteadyCPUSecPerMillion-100) > 1e-9 || r.SteadyMsgPerSec != 1000 {
		t.Fatalf("intervals without CPU: %+v", r)
	}
}
