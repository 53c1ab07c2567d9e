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
}

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

// Scenario names the ratios are computed from.
const (
	ScenarioProduceAcks1   = "produce-acks1"
	ScenarioProduceAcksAll = "produce-acks-1"
	ScenarioConsume        = "consume"
	ScenarioE2E            = "e2e"
)

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

// BenchSuite is `make bench`: standalone produce at acks=1 and acks=-1,
// consume, and e2e latency at a moderate fixed rate. Sized to finish within
// 5 minutes on a 2-core machine.
func BenchSuite() Suite {
	return Suite{Name: "bench", Rounds: 5, Scenarios: []Scenario{
		produceScenario(ScenarioProduceAcks1, 1, false, 5_000_000, 20*time.Second),
		produceScenario(ScenarioProduceAcksAll, -1, true, 5_000_000, 20*time.Second),
		consumeScenario(3_000_000),
		{Name: ScenarioE2E, Kind: KindE2E, Producers: 1, Partitions: 4, RecordBytes: 100, Acks: 1,
			Linger: time.Millisecond, BatchBytes: 128 << 10, Compression: "none",
			Duration: 4 * time.Second, Warmup: time.Second, Rate: 5000},
	}}
}

// GateSuite is `make bench-gate`: the scenarios behind the baseline ratios,
// shorter, within 3 minutes including one retry.
func GateSuite() Suite {
	return Suite{Name: "gate", Rounds: 4, Scenarios: []Scenario{
		produceScenario(ScenarioProduceAcks1, 1, false, 3_000_000, 10*time.Second),
		produceScenario(ScenarioProduceAcksAll, -1, true, 3_000_000, 10*time.Second),
		consumeScenario(2_000_000),
	}}
}
