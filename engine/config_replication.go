package engine

import (
	"fmt"
	"strconv"
	"time"
)

// ReplicationConfig is the replica.* settings (Kafka's names).
type ReplicationConfig struct {
	LagTimeMaxMs           int64 // replica.lag.time.max.ms: a follower not caught up for this long leaves the ISR
	FetchWaitMaxMs         int64 // replica.fetch.wait.max.ms: a follower's fetch long-polls this long
	FetchMinBytes          int32 // replica.fetch.min.bytes
	FetchMaxBytes          int32 // replica.fetch.max.bytes: per partition of a follower's fetch
	FetchResponseMaxBytes  int32 // replica.fetch.response.max.bytes: per follower fetch response
	FetchBackoffMs         int64 // replica.fetch.backoff.ms: after a fetch error (Kafka: 1000)
	FsyncEnable            bool  // replica.fsync.enable: followers report offsets only once fdatasync'd (Chronik)
	HWCheckpointIntervalMs int64 // replica.high.watermark.checkpoint.interval.ms

	// Leadership (the controller's; every broker may become it).
	AutoLeaderRebalance         bool  // auto.leader.rebalance.enable
	LeaderImbalanceCheckSeconds int64 // leader.imbalance.check.interval.seconds (Kafka: 300)
	ControlledShutdown          bool  // controlled.shutdown.enable: SIGTERM moves leaderships away first
	// UncleanLeaderElection is the broker default of the topic config
	// unclean.leader.election.enable; only false is accepted here: set it
	// per topic (the metadata shard applies the topic's value).
	UncleanLeaderElection bool
}

func defaultReplicationConfig() ReplicationConfig {
	return ReplicationConfig{
		LagTimeMaxMs:           30000,
		FetchWaitMaxMs:         500,
		FetchMinBytes:          1,
		FetchMaxBytes:          1 << 20,
		FetchResponseMaxBytes:  10 << 20,
		FetchBackoffMs:         100,
		FsyncEnable:            true,
		HWCheckpointIntervalMs: 5000,

		AutoLeaderRebalance:         true,
		LeaderImbalanceCheckSeconds: 5,
		ControlledShutdown:          true,
	}
}

func (r ReplicationConfig) validate() error {
	switch {
	case r.LagTimeMaxMs < 10:
		return fmt.Errorf("replica.lag.time.max.ms must be >= 10, got %d", r.LagTimeMaxMs)
	case r.FetchWaitMaxMs < 0 || r.FetchWaitMaxMs >= r.LagTimeMaxMs:
		return fmt.Errorf("replica.fetch.wait.max.ms must be in [0, replica.lag.time.max.ms), got %d", r.FetchWaitMaxMs)
	case r.FetchMaxBytes < 1024 || r.FetchResponseMaxBytes < r.FetchMaxBytes:
		return fmt.Errorf("replica.fetch.max.bytes (%d) must be >= 1024 and <= replica.fetch.response.max.bytes (%d)", r.FetchMaxBytes, r.FetchResponseMaxBytes)
	case r.FetchBackoffMs < 1 || r.HWCheckpointIntervalMs < 10:
		return fmt.Errorf("replica.fetch.backoff.ms and replica.high.watermark.checkpoint.interval.ms too small")
	case r.LeaderImbalanceCheckSeconds < 1:
		return fmt.Errorf("leader.imbalance.check.interval.seconds must be >= 1, got %d", r.LeaderImbalanceCheckSeconds)
	case r.UncleanLeaderElection:
		return fmt.Errorf("unclean.leader.election.enable=true is a topic config in Chronik: set it on the topics that may lose data for availability")
	}
	return nil
}

func (r ReplicationConfig) lagTimeMax() time.Duration {
	return time.Duration(r.LagTimeMaxMs) * time.Millisecond
}

func boolKey(p func(c *Config) *bool) configKey {
	return configKey{
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			*p(c) = b
			return err
		},
		get: func(c *Config) string { return strconv.FormatBool(*p(c)) },
	}
}

func init() {
	for k, v := range map[string]configKey{
		"replica.lag.time.max.ms":                       intKey64(func(c *Config) *int64 { return &c.Replication.LagTimeMaxMs }),
		"replica.fetch.wait.max.ms":                     intKey64(func(c *Config) *int64 { return &c.Replication.FetchWaitMaxMs }),
		"replica.fetch.min.bytes":                       intKey32(func(c *Config) *int32 { return &c.Replication.FetchMinBytes }),
		"replica.fetch.max.bytes":                       intKey32(func(c *Config) *int32 { return &c.Replication.FetchMaxBytes }),
		"replica.fetch.response.max.bytes":              intKey32(func(c *Config) *int32 { return &c.Replication.FetchResponseMaxBytes }),
		"replica.fetch.backoff.ms":                      intKey64(func(c *Config) *int64 { return &c.Replication.FetchBackoffMs }),
		"replica.fsync.enable":                          boolKey(func(c *Config) *bool { return &c.Replication.FsyncEnable }),
		"replica.high.watermark.checkpoint.interval.ms": intKey64(func(c *Config) *int64 { return &c.Replication.HWCheckpointIntervalMs }),
		"auto.leader.rebalance.enable":                  boolKey(func(c *Config) *bool { return &c.Replication.AutoLeaderRebalance }),
		"leader.imbalance.check.interval.seconds":       intKey64(func(c *Config) *int64 { return &c.Replication.LeaderImbalanceCheckSeconds }),
		"controlled.shutdown.enable":                    boolKey(func(c *Config) *bool { return &c.Replication.ControlledShutdown }),
		"unclean.leader.election.enable":                boolKey(func(c *Config) *bool { return &c.Replication.UncleanLeaderElection }),
	} {
		brokerKeys[k] = v
	}
}
