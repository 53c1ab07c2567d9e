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
// rest of go test -race, so the check uses a 50% tolerance (100% for the CPU
// ratio).
//
// The slowdown burns CPU rather than sleeping: a sleep per append is hidden
// by the producers' pipelining by an amount that depends on the load (main's
// debug.append.delay.ms=20 cut the throughput ratio by 37.5% on a busy box,
// less than the tolerance). A burn adds about 24 us of broker CPU to every
// record, some 35 times Chronik's own cost, whatever else runs: the CPU
// ratio must fail by a factor of 5 at least, and the throughput ratio, since
// the burn competes for the same cores as everything else, must fall by 20%
// at least (it fell about 65% with the box busy and quiet alike).
func TestGateFailsOnSlowedBrokerAndPassesWithout(t *testing.T) {
	const cpuRatio = "produce-acks1 cpu/M chronik/kfake"
	if testing.Short() {
		t.Skip("starts brokers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	suite := tinyGateSuite()
	clean := Runner{Peers: testPeers(t, chronikBin(t), nil)}
	res, err := clean.RunSuite(ctx, suite)
	if err != nil {
		t.Fatal(err)
	}
	base := NewBaseline(res, 0.5, suite.Rounds, false)
	cpu, ok := base.Ratios[cpuRatio]
	if len(base.Ratios) != 2 || !ok {
		t.Fatalf("baseline ratios: %+v", base.Ratios)
	}
	cpu.Tolerance = 1 // may double: a clean tiny run's CPU ratio moved 25% on a busy box; the slowdown multiplies it by 30-40
	base.Ratios[cpuRatio] = cpu

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
	seen := 0
	for _, r := range v.Rows {
		bad := r.Pairs != 2*suite.Rounds*4 // both attempts pooled
		switch r.Name {
		case cpuRatio:
			bad = bad || r.Pass || r.Current < 5*r.Baseline
		case "produce-acks1 msg/s chronik/kfake":
			bad = bad || r.Current > 0.8*r.Baseline
		default:
			continue
		}
		seen++
		if bad {
			t.Fatalf("%s under the slowdown: %+v\n%s", r.Name, r, out.String())
		}
	}
	if seen != 2 {
		t.Fatalf("gate rows: %+v", v.Rows)
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
