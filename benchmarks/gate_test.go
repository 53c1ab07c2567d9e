package benchmarks

import (
	"context"
	"strings"
	"testing"
	"time"
)

// tinyGateSuite is a gate suite small enough for go test: one sliced
// produce scenario, two rounds of four slices of 20k records.
func tinyGateSuite() Suite {
	sc := produceScenario(ScenarioProduceAcks1, 1, false, 80_000, 0)
	sc.Producers, sc.Partitions, sc.Slices = 1, 2, 4
	return Suite{Name: "tiny-gate", Rounds: 2, Scenarios: []Scenario{sc}}
}

// TestGateFailsOnSlowedBrokerAndPassesWithout runs the real gate (processes,
// clients, CPU clocks, slices, ratios, retry) three times: a clean run makes
// the baseline; Chronik built with the chronikdebug tag and burning 200 us
// of CPU per KiB appended must fail it even after the retry; a second clean
// run must pass it. The in-test runs are tiny and share the machine with the
// rest of go test -race, so the check uses a 50% tolerance; the slowdown
// costs far more than that (several times the broker's own CPU per record).
func TestGateFailsOnSlowedBrokerAndPassesWithout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts brokers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	suite := tinyGateSuite()
	clean := Runner{Peers: testPeers(t, chronikBin(t), nil)}
	res, err := clean.RunSuite(ctx, suite)
	if err != nil {
		t.Fatal(err)
	}
	base := NewBaseline(res, 0.5, suite.Rounds, false)
	if len(base.Ratios) != 2 {
		t.Fatalf("baseline ratios: %+v", base.Ratios)
	}

	slow := Runner{Peers: testPeers(t, chronikDebugBin(t), map[string]string{"debug.append.burn.ns.per.kib": "200000"})}
	var out strings.Builder
	v, err := Gate{Runner: slow, Suite: suite, Baseline: base, Out: &out}.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	WriteGateTable(&out, v.Rows)
	if v.Passed || !v.Retried || !strings.Contains(out.String(), "running [produce-acks1] again") {
		t.Fatalf("gate passed a broker slowed by debug.append.burn.ns.per.kib, or did not retry:\n%s", out.String())
	}
	for _, r := range v.Rows {
		if r.Name == "produce-acks1 msg/s chronik/kfake" && (r.Pass || r.Current > r.Baseline/2 || r.Pairs != 2*suite.Rounds*4) {
			t.Fatalf("throughput ratio under the slowdown (pairs of both attempts): %+v", r)
		}
	}
	t.Logf("slowed:\n%s", out.String())

	out.Reset()
	v, err = Gate{Runner: clean, Suite: suite, Baseline: base, Out: &out}.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	WriteGateTable(&out, v.Rows)
	if !v.Passed {
		t.Fatalf("gate failed an unchanged broker:\n%s", out.String())
	}
	for _, r := range v.Results.Runs {
		if !r.Sliced || len(r.Intervals) != 4 || r.CPUSeconds <= 0 || r.PeakRSSBytes <= 0 {
			t.Fatalf("run lacks slices or process figures: %+v", r)
		}
	}
	t.Logf("clean:\n%s", out.String())
}
