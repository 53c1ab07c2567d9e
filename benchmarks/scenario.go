package benchmarks

import (
	"fmt"
	"time"
)

// Kinds of scenario.
const (
	KindProduce = "produce" // producers write for Duration (or Count records)
	KindConsume = "consume" // Count records are preloaded, then read from the start
	KindE2E     = "e2e"     // produce at Rate while a consumer reads; latency = receive - send
)

// Scenario is one workload. The same Scenario runs against every system.
// Adding a scenario to the lab is adding a value of this type to a Suite.
type Scenario struct {
	Name        string        `json:"name"`
	Kind        string        `json:"kind"`
	Producers   int           `json:"producers"`    // producer clients
	Partitions  int32         `json:"partitions"`   // partitions of the topic
	RecordBytes int           `json:"record_bytes"` // value size
	Acks        int           `json:"acks"`         // 0, 1 or -1
	Linger      time.Duration `json:"linger_ns"`
	BatchBytes  int32         `json:"batch_bytes"` // producer batch max bytes
	Compression string        `json:"compression"` // none, gzip, snappy, lz4, zstd
	Duration    time.Duration `json:"duration_ns"` // measured window (produce, e2e)
	Warmup      time.Duration `json:"warmup_ns"`   // excluded from the figures (produce, e2e)
	Count       int64         `json:"count"`       // produce: stop after Count (0 = Duration); consume: records to preload and read
	Rate        int           `json:"rate"`        // records/s over all producers; 0 = as fast as possible
	// Durable asks every peer for its durable mode: kfake gets a data dir and
	// SyncWrites. Chronik is always on disk; acks decides whether it fsyncs.
	Durable bool `json:"durable"`
	// Slices > 0 runs the systems side by side in alternating slices of
	// Count/Slices records each (slices.go).
	Slices int `json:"slices,omitempty"`
	// SliceGroup joins consecutive sliced scenarios of a suite with the
	// same group into one round, their slices alternating too.
	SliceGroup string `json:"slice_group,omitempty"`
	// Systems, when set, are the systems this scenario runs on instead of
	// the runner's (e.g. Chronik and ChronikRF3 only).
	Systems []string `json:"systems,omitempty"`
	// Inflight, when > 0, is the produce requests in flight per broker of
	// the non-idempotent (acks=1, acks=0) producers instead of
	// nonIdempotentInflight (kgo's own default is 1).
	Inflight int `json:"inflight,omitempty"`
}

// sliceRecords is the records of one slice of a sliced scenario.
func (s Scenario) sliceRecords() int64 { return s.Count / int64(max(s.Slices, 1)) }

// Validate rejects scenarios the runner cannot run.
func (s Scenario) Validate() error {
	switch {
	case s.Name == "":
		return fmt.Errorf("scenario without a name")
	case s.Kind != KindProduce && s.Kind != KindConsume && s.Kind != KindE2E:
		return fmt.Errorf("scenario %s: unknown kind %q", s.Name, s.Kind)
	case s.Producers < 1 || s.Partitions < 1 || s.RecordBytes < 8:
		return fmt.Errorf("scenario %s: need producers >= 1, partitions >= 1, record_bytes >= 8", s.Name)
	case s.Acks != 0 && s.Acks != 1 && s.Acks != -1:
		return fmt.Errorf("scenario %s: acks must be 0, 1 or -1", s.Name)
	case s.Kind == KindConsume && s.Count < 1:
		return fmt.Errorf("scenario %s: consume needs count >= 1", s.Name)
	case s.Kind == KindE2E && s.Rate < 1:
		return fmt.Errorf("scenario %s: e2e needs a fixed rate", s.Name)
	case s.Kind != KindConsume && s.Duration <= 0 && s.Count <= 0:
		return fmt.Errorf("scenario %s: need a duration or a count", s.Name)
	case s.Slices < 0 || s.Slices > 0 && s.sliceRecords() < 1:
		return fmt.Errorf("scenario %s: slices need count >= slices", s.Name)
	}
	if _, err := compressionOpt(s.Compression); err != nil {
		return fmt.Errorf("scenario %s: %w", s.Name, err)
	}
	return nil
}

// Suite is a list of scenarios run in interleaved rounds.
type Suite struct {
	Name      string     `json:"name"`
	Rounds    int        `json:"rounds"`
	Scenarios []Scenario `json:"scenarios"`
}

// Subset is s with only the named scenarios and the rest of their slice
// groups, in suite order (a slice group's ratios are measured with all its
// arms taking turns).
func (s Suite) Subset(names []string) Suite {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	groups := map[string]bool{}
	for _, sc := range s.Scenarios {
		if want[sc.Name] && sc.SliceGroup != "" {
			groups[sc.SliceGroup] = true
		}
	}
	out := s
	out.Scenarios = nil
	for _, sc := range s.Scenarios {
		if want[sc.Name] || sc.SliceGroup != "" && groups[sc.SliceGroup] {
			out.Scenarios = append(out.Scenarios, sc)
		}
	}
	return out
}

// units splits scs into what a round runs as one: a slice group (with the
// same number of slices in each scenario), or one scenario.
func units(scs []Scenario) [][]Scenario {
	var out [][]Scenario
	for i, sc := range scs {
		prev := len(out) - 1
		if i > 0 && sc.Slices > 0 && sc.SliceGroup != "" && scs[i-1].SliceGroup == sc.SliceGroup && scs[i-1].Slices == sc.Slices {
			out[prev] = append(out[prev], sc)
			continue
		}
		out = append(out, []Scenario{sc})
	}
	return out
}

// Scenario names the ratios are computed from.
const (
	ScenarioProduceAcks1   = "produce-acks1"
	ScenarioProduceAcksAll = "produce-acks-1"
	ScenarioConsume        = "consume"
	ScenarioE2E            = "e2e"
	ScenarioProduceAcks0   = "produce-acks0"
	// The cluster part's scenarios run on Chronik and ChronikRF3 side by
	// side (ClusterSuite).
	ScenarioReplAcks1   = "repl-acks1"
	ScenarioReplAcksAll = "repl-acks-1"
	ScenarioE2ERF3      = "e2e-rf3"
	// The gate's partitions slice group (GatePartitionScenarios), named
	// as the partitions sweep's points.
	ScenarioPartitionsRef  = "partitions-4"
	ScenarioPartitionsMany = "partitions-1000"
)

// ClusterSystems are the systems of the cluster part's scenarios: the
// standalone broker next to the 3-broker RF=3 cluster, same client and
// workload, in the same run.
var ClusterSystems = []string{Chronik, ChronikRF3}

// produceScenario measures count records (after a short warm-up), with
// maxDuration as a cap. A fixed count, not a fixed time, keeps the volume
// each broker holds equal: in-memory kfake keeps every record, and its
// cost per record grows with its heap.
func produceScenario(name string, acks int, durable bool, count int64, maxDuration time.Duration) Scenario {
	return Scenario{
		Name: name, Kind: KindProduce, Producers: 2, Partitions: 4, RecordBytes: 100, Acks: acks,
		Linger: 5 * time.Millisecond, BatchBytes: 128 << 10, Compression: "none",
		Count: count, Duration: maxDuration, Warmup: 300 * time.Millisecond, Durable: durable,
	}
}

func consumeScenario(count int64) Scenario {
	return Scenario{Name: ScenarioConsume, Kind: KindConsume, Producers: 1, Partitions: 4, RecordBytes: 100, Acks: 1,
		Linger: 5 * time.Millisecond, BatchBytes: 128 << 10, Compression: "none", Count: count}
}

// BenchSuite is `make bench`'s suite: StandaloneSuite's scenarios, then
// ClusterSuite's, in 3 rounds (the cluster lab's bandwidth, ISR-shrink and
// failover scenarios run after it: cmd/chronik-bench bench).
func BenchSuite() Suite {
	s := StandaloneSuite()
	s.Name, s.Scenarios = "bench", append(s.Scenarios, ClusterSuite().Scenarios...)
	return s
}

// StandaloneSuite is Chronik against kfake, one broker each: produce at
// acks=1, acks=-1 and acks=0, consume, and e2e latency at a moderate fixed
// rate. About 2.5 minutes on a 2-core machine at 3 rounds.
//
// acks=1 and acks=-1 run as the gate runs them, in one slice group (10
// slices of 300k records each, the four arms taking turns), so that their
// ratio is a same-run one. Run one after the other as 2M-record runs
// (1.2 s each at 1.7M records/s) they put Chronik's acks=-1 at 1.08-1.19x
// its acks=1 in every round, while the gate's slices over the same
// brokers gave 0.89-0.90x: a short run's start on a fresh broker moved
// the ratio more than the acks did.
func StandaloneSuite() Suite {
	acks1 := produceScenario(ScenarioProduceAcks1, 1, false, 3_000_000, 0)
	acksAll := produceScenario(ScenarioProduceAcksAll, -1, true, 3_000_000, 0)
	acks1.Slices, acksAll.Slices = 10, 10
	acks1.SliceGroup, acksAll.SliceGroup = "produce", "produce"
	return Suite{Name: "standalone", Rounds: 3, Scenarios: []Scenario{
		acks1, acksAll,
		produceScenario(ScenarioProduceAcks0, 0, false, 2_000_000, 10*time.Second),
		consumeScenario(2_000_000),
		e2eScenario(ScenarioE2E, nil),
	}}
}

// e2eScenario is produce at a fixed rate of 5000 records/s with one
// consumer reading.
func e2eScenario(name string, systems []string) Scenario {
	return Scenario{Name: name, Kind: KindE2E, Producers: 1, Partitions: 4, RecordBytes: 100, Acks: 1,
		Linger: time.Millisecond, BatchBytes: 128 << 10, Compression: "none",
		Duration: 4 * time.Second, Warmup: time.Second, Rate: 5000, Systems: systems}
}

// replScenario is the cluster part's produce workload at acks, on
// ClusterSystems, sliced in the "replicated" slice group: the
// standalone broker and the RF=3 cluster take turns.
func replScenario(name string, acks int, count int64, slices int) Scenario {
	sc := produceScenario(name, acks, acks == -1, count, 0)
	sc.Partitions, sc.Slices, sc.SliceGroup, sc.Systems = 9, slices, "replicated", ClusterSystems
	return sc
}

// ClusterSuite is the cluster part's runner scenarios (make bench-cluster
// adds the bandwidth, ISR-shrink and failover scenarios): acks=1 and acks=-1
// produce on a standalone broker and on the RF=3 cluster, side by side in
// slices; e2e latency at 5000 records/s on both.
func ClusterSuite() Suite {
	return Suite{Name: "cluster", Rounds: 3, Scenarios: []Scenario{
		replScenario(ScenarioReplAcks1, 1, 900_000, 6),
		replScenario(ScenarioReplAcksAll, -1, 900_000, 6),
		e2eScenario(ScenarioE2ERF3, ClusterSystems),
	}}
}

// GateSuite is `make bench-gate`: the scenarios behind the baseline ratios,
// sliced, within 3 minutes including one retry.
func GateSuite() Suite {
	acks1 := produceScenario(ScenarioProduceAcks1, 1, false, 3_220_000, 0)
	acksAll := produceScenario(ScenarioProduceAcksAll, -1, true, 3_220_000, 0)
	consume := consumeScenario(3_200_000)
	acks1.Slices, acksAll.Slices, consume.Slices = 14, 14, 8
	acks1.SliceGroup, acksAll.SliceGroup = "produce", "produce"
	scs := []Scenario{acks1, acksAll, consume, GateE2EScenario()}
	scs = append(scs, GatePartitionScenarios()...)
	return Suite{Name: "gate", Rounds: 4, Scenarios: append(scs, GateReplScenario())}
}

// GateE2EScenario is the gate's latency ratio (e2e p99 chronik/kfake):
// e2eScenario's workload (5000 records/s from one producer, one consumer,
// 4 partitions, linger 1 ms), sliced: Chronik and kfake take turns, 6
// slices of 2000 records (0.4 s) each per round, so each slice's p99
// rests on 2000 latencies (the 20 largest above it) and a round gives 6
// slice pairs. Short slices, because on a shared machine a stall of the
// box (tens of ms) sets the p99 of any slice it falls in: the shorter the
// slices, the more of them are clean, and the IQM of the pairs drops the
// rest.
func GateE2EScenario() Scenario {
	sc := e2eScenario(ScenarioE2E, nil)
	sc.Slices, sc.Count, sc.Duration, sc.Warmup = 6, 6*2000, 0, 0
	return sc
}

// GatePartitionScenarios are the gate's CPU per record at 1,000
// partitions (chronik cpu/M 1000p/4p): the partitions sweep's load
// (partitionScenario: acks=1, 2 producers, kgo's sticky partitioner) to a
// topic of 1,000 partitions and to one of the sweep's reference 4, both on
// Chronik, one slice group: the two brokers take turns, the sweep's 6
// slices of 200k records each.
func GatePartitionScenarios() []Scenario {
	cfg := DefaultScaleConfig()
	ref, many := partitionScenario(cfg.PartitionReference, cfg), partitionScenario(GatePartitions, cfg)
	ref.Systems, many.Systems = []string{Chronik}, []string{Chronik}
	ref.SliceGroup, many.SliceGroup = "partitions", "partitions"
	return []Scenario{ref, many}
}

// GatePartitions is the partition count of the gate's partitions group.
const GatePartitions = 1000

// GateReplScenario is the gate's cluster ratio (RatioReplAcksAll):
// acks=-1 on a standalone broker and on the RF=3 cluster, 8 slices of
// 200k records each, taking turns.
func GateReplScenario() Scenario { return replScenario(ScenarioReplAcksAll, -1, 1_600_000, 8) }

// The slowed variants `chronik-bench gate-rates` measures by default, as
// NAME:KEY=VALUE,... of chronik-debug's test hooks (engine/debug.go).
//
// SlowdownCPU burns 15% of Chronik's own CPU per record more, by the
// gate's figures after the request-frame pools (CPU-s per million records:
// 0.185 produce, mean of acks=1 0.158 and acks=-1 0.212; 0.0455 consume)
// at 122 batch bytes per gate record: 0.15 * 185 ns / (122/1024 KiB) = 233
// ns per KiB appended, 0.15 * 45.5 ns / (122/1024) = 57 ns per KiB fetched.
// (Before the pools it was 270 and 40, from 0.213 and 0.0313.)
//
// SlowdownThroughput sleeps instead (no CPU). The effect is not linear in
// the sleep: the producers' pipelining hides short sleeps. Calibrated
// after the request-frame pools (3 gate rounds each, load 2-6; change of
// produce-acks1 msg/s and consume msg/s chronik/kfake against the
// baseline): append 7000 / fetch 1100 ns per KiB -9% and -24%; 11000 / 800
// -25% and -18%; 8500 / 700 -15.1% and -16.2%, -15.5% and -15.8% (two
// attempts). Before the pools, 3500 / 550 did that; on the faster broker
// it moved them only -5.7% and -7.3%. acks=-1, with five requests in
// flight per producer, hides most of it.
//
// `make bench-gate-rates` reports the effect each had on each ratio.
//
// SlowdownReplication sleeps 80 us per KiB before a leader answers a
// follower's fetch (debug.replica.fetch.delay.ns.per.kib; consumers'
// fetches are not slowed): it caps each leader's replication at about
// 12.5 MB/s and slows RF=3 acks=-1, not a standalone broker (gated by
// RatioReplAcksAll). Delays of 2-5 us per KiB did not move it: the
// producers' five requests in flight hide them; 40 us per KiB moved it
// 20-23%, about what load alone moves it on this box.
//
// SlowdownTail stalls every 100th partition append of Chronik for 4 ms
// (debug.append.stall.every, debug.append.stall.us): at the gate's e2e
// load (5000 records/s, about 1000 appends/s) 10 stalls a second, each
// holding back the records behind it for up to 4 ms. In one round of the
// gate's e2e slices it doubled Chronik's slice p99s (2.1 -> 5.0 ms; the
// ratio 0.91 -> 1.97) and left the p50 alone; every 200th for 3 ms moved
// the slice p99s only 17% (pooled 38%): with 2000 records a slice, a stall
// sets the p99 only once the records it holds back pass 1% of the slice.
//
// SlowdownPartitions burns 100 ns of CPU per partition the broker holds
// before each append (debug.append.burn.ns.per.partition), a cost that
// grows with the partition count as a scan over every partition would:
// 100 us per append at 1,000 partitions, nothing to speak of at 4; in a
// short run 80 ns raised chronik cpu/M 1000p/4p by a third; in gate-rates
// 100 ns moved it +90% (median).
//
// SlowdownFailover is not a hook: broker.heartbeat.interval.ms 2000 (and a
// session of 6 s) makes the controller wait half an interval after a
// killed broker's heartbeat connection closed before it fences it, so a
// leader kill's failover takes over a second. A longer session timeout
// alone would not show: a kill -9 closes the connection, and the
// controller fences on that, not on the session (measured: 5 kills at
// broker.session.timeout.ms=6000, p99 221 ms).
const (
	SlowdownCPU         = "cpu+15%:debug.append.burn.ns.per.kib=233,debug.fetch.burn.ns.per.kib=57"
	SlowdownThroughput  = "msgs-15%:debug.append.delay.ns.per.kib=8500,debug.fetch.delay.ns.per.kib=700"
	SlowdownReplication = "repl-slow:debug.replica.fetch.delay.ns.per.kib=80000"
	SlowdownFailover    = "failover-slow:broker.heartbeat.interval.ms=2000,broker.session.timeout.ms=6000"
	SlowdownTail        = "p99-slow:debug.append.stall.every=100,debug.append.stall.us=4000"
	SlowdownPartitions  = "parts-cpu:debug.append.burn.ns.per.partition=100"
)
