package benchmarks

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

// The gate's e2e latency ratio pairs the k-th slice's p99 of Chronik with
// the k-th of kfake (IQM over every pair); the pooled one divides each
// round's p99 over all its slices.
func TestE2EP99RatioPairsSlicesAndPoolsRounds(t *testing.T) {
	sliced := func(sys string, round int, pooled float64, p99s ...float64) Run {
		r := Run{Scenario: ScenarioE2E, System: sys, Round: round, Sliced: true, Latency: LatencySummary{P99Ms: pooled}}
		for _, p := range p99s {
			r.Intervals = append(r.Intervals, Interval{Seconds: 1, Records: 4000, CPUSeconds: 0.1, P99Ms: p})
		}
		return r
	}
	runs := []Run{
		sliced(Chronik, 0, 6, 2, 3, 4, 20), sliced(Kfake, 0, 2, 1, 1, 1, 1), // pairs 2 3 4 20, pooled 3
		sliced(Chronik, 1, 2, 2, 2, 0, 2), sliced(Kfake, 1, 1, 1, 1, 1, 1), // 2 2 (no p99: no pair) 2, pooled 2
	}
	got := byName(ComputeRatios(runs))
	r := got["e2e p99 chronik/kfake"]
	// Pairs 2 3 4 20 2 2 2 (and the slice without a p99, counted but not
	// used): IQM drops 2 and 20, leaving 2 2 3 4 2.
	if !near(r.Value, math.Pow(2*2*3*4*2, 0.2)) || r.Pairs != 8 || r.HigherIsBetter || !r.Gated || len(r.PerRound) != 2 {
		t.Fatalf("per-slice ratio = %+v", r)
	}
	if p := got["e2e p99 pooled chronik/kfake"]; !near(p.Value, math.Sqrt(3*2)) || p.Pairs != 2 || p.Gated {
		t.Fatalf("pooled ratio = %+v, want the geometric mean of the rounds' 3 and 2", p)
	}
	// Unsliced (make bench's e2e): both are the runs' p99 ratio.
	runs = []Run{{Scenario: ScenarioE2E, System: Chronik, Latency: LatencySummary{P99Ms: 3}},
		{Scenario: ScenarioE2E, System: Kfake, Latency: LatencySummary{P99Ms: 2}}}
	got = byName(ComputeRatios(runs))
	if got["e2e p99 chronik/kfake"].Value != 1.5 || got["e2e p99 pooled chronik/kfake"].Value != 1.5 {
		t.Fatalf("unsliced: %+v", got)
	}
}

// The partitions group: Chronik at 1,000 partitions over Chronik at 4,
// slice k with slice k.
func TestPartitionRatioPairsChronikAt1000WithItselfAt4(t *testing.T) {
	scs := GatePartitionScenarios()
	if len(scs) != 2 || scs[0].Name != ScenarioPartitionsRef || scs[1].Name != ScenarioPartitionsMany ||
		scs[0].Partitions != 4 || scs[1].Partitions != GatePartitions || strings.Join(scs[0].Systems, ",") != Chronik ||
		strings.Join(scs[1].Systems, ",") != Chronik || len(units(scs)) != 1 {
		t.Fatalf("partition scenarios: %+v", scs)
	}
	cpu := func(sc, sys string, perM ...float64) Run {
		r := Run{Scenario: sc, System: sys, Sliced: true}
		for _, c := range perM {
			r.Intervals = append(r.Intervals, Interval{Seconds: 0.2, Records: 200_000, CPUSeconds: c * 0.2})
		}
		return r
	}
	runs := []Run{cpu(ScenarioPartitionsRef, Chronik, 0.25, 0.3), cpu(ScenarioPartitionsMany, Chronik, 0.5, 0.3)}
	got := byName(ComputeRatios(runs))
	if r := got["chronik cpu/M 1000p/4p"]; !near(r.Value, math.Sqrt(2*1)) || r.Pairs != 2 || r.HigherIsBetter || !r.Gated ||
		strings.Join(r.Scenarios, ",") != "partitions-1000,partitions-4" {
		t.Fatalf("1000p/4p = %+v", r)
	}
}

// A failing latency ratio shows its sides in ms, not in CPU.
func TestGateFailureSidesUseTheRatiosUnit(t *testing.T) {
	b := Baseline{Schema: SchemaVersion, Tolerance: 0.1,
		Ratios: map[string]BaselineRatio{"e2e p99 chronik/kfake": {Value: 1.0}},
		Figures: map[string]Figure{ScenarioE2E + "/" + Chronik: {P99Ms: 2, CPUSecPerMillion: 20},
			ScenarioE2E + "/" + Kfake: {P99Ms: 2, CPUSecPerMillion: 30}}}
	res := &Results{Scenarios: []Scenario{{Name: ScenarioE2E}},
		Ratios: []RatioResult{{Name: "e2e p99 chronik/kfake", Value: 1.5, Pairs: 16, Scenarios: []string{ScenarioE2E}}},
		Summaries: []Summary{{Scenario: ScenarioE2E, System: Chronik, Latency: LatencySummary{P99Ms: 3}},
			{Scenario: ScenarioE2E, System: Kfake, Latency: LatencySummary{P99Ms: 2}}}}
	var out strings.Builder
	WriteGateFailures(&out, Compare(b, res, 0), nil)
	want := "chronik e2e 3.0000 ms p99 (baseline run 2.0000, +50.0%); kfake e2e 2.0000 ms p99 (baseline run 2.0000, +0.0%)"
	if !strings.Contains(out.String(), want) {
		t.Fatalf("failure report lacks %q:\n%s", want, out.String())
	}
}

func TestGateSuiteHasTheLatencyAndPartitionsGroups(t *testing.T) {
	s := GateSuite()
	for _, sc := range s.Scenarios {
		if err := sc.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	e2e := s.Subset([]string{ScenarioE2E})
	if len(e2e.Scenarios) != 1 || e2e.Scenarios[0].Kind != KindE2E || e2e.Scenarios[0].Slices < 1 ||
		e2e.Scenarios[0].Rate != 5000 || e2e.Scenarios[0].sliceRecords() < 500 {
		t.Fatalf("e2e gate scenario: %+v", e2e.Scenarios)
	}
	if p := s.Subset([]string{ScenarioPartitionsMany}); len(p.Scenarios) != 2 {
		t.Fatalf("--scenarios partitions-1000 should bring its slice group: %v", names(p.Scenarios))
	}
}

// TestSlicedE2EMeasuresEachSlicesLatencies runs a tiny sliced e2e round on
// both systems: each slice receives exactly its records, with its own p99,
// and the run's histogram holds every slice's latencies.
func TestSlicedE2EMeasuresEachSlicesLatencies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts brokers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sc := e2eScenario(ScenarioE2E, nil)
	sc.Rate, sc.Slices, sc.Count, sc.Duration, sc.Warmup = 2000, 3, 3*400, 0, 0
	res, err := Runner{Peers: testPeers(t, chronikBin(t), nil)}.RunSuite(ctx, Suite{Name: "tiny-e2e", Rounds: 1, Scenarios: []Scenario{sc}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 2 {
		t.Fatalf("runs: %+v", res.Runs)
	}
	for _, r := range res.Runs {
		if !r.Sliced || len(r.Intervals) != 3 || r.Records != 1200 || r.Latency.Count != 1200 || r.Errors != 0 || r.CPUSeconds <= 0 {
			t.Fatalf("%s run: %+v", r.System, r)
		}
		for _, iv := range r.Intervals {
			// 400 records at 2000/s take 0.2 s at least.
			if iv.Records != 400 || iv.P99Ms <= 0 || iv.Seconds < 0.19 {
				t.Fatalf("%s slice: %+v", r.System, iv)
			}
		}
	}
	if p := byName(res.Ratios)["e2e p99 chronik/kfake"]; p.Pairs != 3 || p.Value <= 0 {
		t.Fatalf("e2e p99 ratio: %+v", p)
	}
}
