package benchmarks

import (
	"math"
	"sort"
)

// latestRuns keeps, for each scenario, system and round, only the run of
// the highest attempt (a gate retry replaces the first attempt).
func latestRuns(runs []Run) []Run {
	type key struct {
		sc, sys string
		round   int
	}
	best := map[key]int{}
	for _, r := range runs {
		k := key{r.Scenario, r.System, r.Round}
		if a, ok := best[k]; !ok || r.Attempt > a {
			best[k] = r.Attempt
		}
	}
	var out []Run
	for _, r := range runs {
		if best[key{r.Scenario, r.System, r.Round}] == r.Attempt {
			out = append(out, r)
		}
	}
	return out
}

// Summarize groups the latest runs by scenario and system and takes medians.
func Summarize(runs []Run) []Summary {
	runs = latestRuns(runs)
	type key struct{ sc, sys string }
	groups := map[key][]Run{}
	var order []key
	for _, r := range runs {
		k := key{r.Scenario, r.System}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []Summary
	for _, k := range order {
		out = append(out, summarizeGroup(groups[k]))
	}
	return out
}

func summarizeGroup(rs []Run) Summary {
	pick := func(f func(Run) float64) float64 {
		var v []float64
		for _, r := range rs {
			v = append(v, f(r))
		}
		return Median(v)
	}
	s := Summary{Scenario: rs[0].Scenario, System: rs[0].System, Rounds: len(rs), Durability: rs[0].Durability,
		MsgPerSec:        pick(func(r Run) float64 { return r.MsgPerSec }),
		SteadyMsgPerSec:  pick(func(r Run) float64 { return r.SteadyMsgPerSec }),
		MBPerSec:         pick(func(r Run) float64 { return r.MBPerSec }),
		CPUSecPerMillion: pick(func(r Run) float64 { return r.CPUSecPerMillion }),
	}
	s.Latency = LatencySummary{
		P50Ms: pick(func(r Run) float64 { return r.Latency.P50Ms }), P90Ms: pick(func(r Run) float64 { return r.Latency.P90Ms }),
		P99Ms: pick(func(r Run) float64 { return r.Latency.P99Ms }), P999Ms: pick(func(r Run) float64 { return r.Latency.P999Ms }),
		MaxMs: pick(func(r Run) float64 { return r.Latency.MaxMs }),
	}
	var curves [][]LatencyPoint
	for _, r := range rs {
		s.Latency.Count += r.Latency.Count
		s.Errors += r.Errors
		s.PeakRSSBytes = max(s.PeakRSSBytes, r.PeakRSSBytes)
		curves = append(curves, r.Latency.Curve)
	}
	s.Latency.Curve = medianCurve(curves)
	return s
}

// metricOf extracts a per-round value of one scenario on one system.
func metricOf(runs []Run, scenario, system string, f func(Run) float64) map[int]float64 {
	m := map[int]float64{}
	for _, r := range runs {
		if r.Scenario == scenario && r.System == system {
			m[r.Round] = f(r)
		}
	}
	return m
}

func msgs(r Run) float64  { return r.MsgPerSec }
func cpuPM(r Run) float64 { return r.CPUSecPerMillion }
func p50(r Run) float64   { return r.Latency.P50Ms }
func p99(r Run) float64   { return r.Latency.P99Ms }

// ratioSpec says how one ratio is computed from runs.
type ratioSpec struct {
	name, desc     string
	numSc, numSys  string
	denSc, denSys  string
	f              func(Run) float64
	higherIsBetter bool
	gated          bool
}

var ratioSpecs = []ratioSpec{
	{"produce-acks1 msg/s chronik/kfake", "produce throughput at acks=1, Chronik over kfake (in memory)",
		ScenarioProduceAcks1, Chronik, ScenarioProduceAcks1, Kfake, msgs, true, true},
	{"produce-acks-1 msg/s chronik/kfake", "produce throughput at acks=-1, Chronik (fdatasync group commit) over kfake (fsync per batch)",
		ScenarioProduceAcksAll, Chronik, ScenarioProduceAcksAll, Kfake, msgs, true, true},
	{"consume msg/s chronik/kfake", "consume throughput from the start of a preloaded topic",
		ScenarioConsume, Chronik, ScenarioConsume, Kfake, msgs, true, true},
	{"chronik acks-1/acks1 msg/s", "Chronik's durable (acks=-1) over its acks=1 produce throughput",
		ScenarioProduceAcksAll, Chronik, ScenarioProduceAcks1, Chronik, msgs, true, true},
	{"kfake acks-1/acks1 msg/s", "kfake's durable (data dir, SyncWrites) over its in-memory produce throughput (context, not gated)",
		ScenarioProduceAcksAll, Kfake, ScenarioProduceAcks1, Kfake, msgs, true, false},
	{"produce-acks1 cpu/M chronik/kfake", "broker CPU-seconds per million records at acks=1, Chronik over kfake",
		ScenarioProduceAcks1, Chronik, ScenarioProduceAcks1, Kfake, cpuPM, false, true},
	{"produce-acks-1 cpu/M chronik/kfake", "broker CPU-seconds per million records at acks=-1, Chronik over kfake",
		ScenarioProduceAcksAll, Chronik, ScenarioProduceAcksAll, Kfake, cpuPM, false, true},
	{"consume cpu/M chronik/kfake", "broker CPU-seconds per million records consumed, Chronik over kfake",
		ScenarioConsume, Chronik, ScenarioConsume, Kfake, cpuPM, false, true},
	{"e2e p50 chronik/kfake", "end-to-end latency p50 at a fixed rate, Chronik over kfake (lower is better)",
		ScenarioE2E, Chronik, ScenarioE2E, Kfake, p50, false, false},
	{"e2e p99 chronik/kfake", "end-to-end latency p99 at a fixed rate, Chronik over kfake (lower is better)",
		ScenarioE2E, Chronik, ScenarioE2E, Kfake, p99, false, false},
}

// ComputeRatios computes every ratio whose scenarios are in runs: the
// median over rounds of the per-round ratio.
func ComputeRatios(runs []Run) []RatioResult {
	runs = latestRuns(runs)
	var out []RatioResult
	for _, s := range ratioSpecs {
		num := metricOf(runs, s.numSc, s.numSys, s.f)
		den := metricOf(runs, s.denSc, s.denSys, s.f)
		if len(num) == 0 || len(den) == 0 {
			continue
		}
		per := PairedRatios(num, den)
		v := Median(per)
		if math.IsNaN(v) {
			v = 0 // no usable pair: the gate treats 0 as missing
		}
		for i, x := range per {
			if math.IsNaN(x) {
				per[i] = 0
			}
		}
		scs := []string{s.numSc}
		if s.denSc != s.numSc {
			scs = append(scs, s.denSc)
		}
		sort.Strings(scs)
		out = append(out, RatioResult{Name: s.name, Description: s.desc, Value: v, PerRound: per,
			HigherIsBetter: s.higherIsBetter, Gated: s.gated, Scenarios: scs})
	}
	return out
}
