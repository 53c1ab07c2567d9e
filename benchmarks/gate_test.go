package benchmarks

import (
	"context"
	"strings"
	"testing"
	"time"
)

// tinyGateSuite is a gate suite small enough for go test: one produce
// scenario, two interleaved rounds of under a second each.
func tinyGateSuite() Suite {
	sc := produceScenario(ScenarioProduceAcks1, 1, false, 0, 800*time.Millisecond)
	sc.Warmup, sc.Producers, sc.Partitions = 200*time.Millisecond, 1, 2
	return Suite{Name: "tiny-gate", Rounds: 2, Scenarios: []Scenario{sc}}
}

// TestGateFailsOnSlowedBrokerAndPassesWithout runs the real gate (processes,
// clients, /proc, ratios, retry) three times: a clean run makes the
// baseline; with debug.append.delay.ms Chronik must fail it even after the
// retry; a second clean run must pass it. The in-test runs are tiny and
// share the machine with the rest of go test -race, so the pass check uses
// a 50% tolerance; the slowdown costs far more than that (each 2-partition
// request sleeps 2 x 20 ms on the connection's worker).
func TestGateFailsOnSlowedBrokerAndPassesWithout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts brokers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	suite := tinyGateSuite()
	clean := Runner{Peers: testPeers(t, nil)}
	res, err := clean.RunSuite(ctx, suite)
	if err != nil {
		t.Fatal(err)
	}
	base := NewBaseline(res, 0.5, false)
	if len(base.Ratios) != 2 {
		t.Fatalf("baseline ratios: %+v", base.Ratios)
	}

	slow := Runner{Peers: testPeers(t, map[string]string{"debug.append.delay.ms": "20"})}
	var out strings.Builder
	_, rows, passed, err := Gate{Runner: slow, Suite: suite, Baseline: base, Out: &out}.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	WriteGateTable(&out, rows)
	if passed || !strings.Contains(out.String(), "retrying 1 scenario") {
		t.Fatalf("gate passed a broker slowed by debug.append.delay.ms, or did not retry:\n%s", out.String())
	}
	for _, r := range rows {
		if r.Name == "produce-acks1 msg/s chronik/kfake" && (r.Pass || r.Current > r.Baseline/2) {
			t.Fatalf("throughput ratio under the slowdown: %+v", r)
		}
	}
	t.Logf("slowed:\n%s", out.String())

	out.Reset()
	res2, rows, passed, err := Gate{Runner: clean, Suite: suite, Baseline: base, Out: &out}.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	WriteGateTable(&out, rows)
	if !passed {
		t.Fatalf("gate failed an unchanged broker:\n%s", out.String())
	}
	if len(res2.Runs) < 4 || res2.Runs[0].CPUSeconds <= 0 || res2.Runs[0].PeakRSSBytes <= 0 {
		t.Fatalf("runs lack /proc figures: %+v", res2.Runs)
	}
	t.Logf("clean:\n%s", out.String())
}
