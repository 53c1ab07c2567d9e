package engine

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Config is the broker configuration. Keys are named as Kafka names them;
// ParseProperties reads a Java-style properties file body (key=value lines,
// '#' comments) into it.
type Config struct {
	NodeID             int32  // node.id / broker.id
	Listen             string // the address netio binds, host:port
	AdvertisedListener string // host:port sent in Metadata; defaults to Listen
	DataDir            string // log.dirs
	Rack               string // broker.rack: in a cluster, the cluster config's rack column

	NumPartitions         int32 // num.partitions
	DefaultReplication    int16 // default.replication.factor
	AutoCreateTopics      bool  // auto.create.topics.enable
	MessageMaxBytes       int32 // message.max.bytes (broker default of max.message.bytes)
	SocketRequestMaxBytes int32 // socket.request.max.bytes
	SegmentBytes          int64 // log.segment.bytes
	SegmentMs             int64 // log.roll.ms
	RetentionMs           int64 // log.retention.ms
	RetentionBytes        int64 // log.retention.bytes
	RetentionCheckMs      int64 // log.retention.check.interval.ms
	IndexIntervalBytes    int32 // log.index.interval.bytes
	MinInsyncReplicas     int32 // min.insync.replicas
	MessageTimestampType  string
	CleanupPolicy         string
	FlushPolicy           string // flush.policy: "ack" (acks=-1 waits for fdatasync) or "interval"
	FlushMs               int64  // flush.ms: background flush interval
	FlushMessages         int64  // flush.messages: interval policy syncs a partition after this many unflushed records (<=0: off)
	FlushMode             string // log.flush.mode: "each-log" (fdatasync per partition on a pool) or "syncfs"
	FlushWorkers          int32  // log.flush.workers: goroutines of the shared group-commit pool
	// Preallocate (log.preallocate): reserve each active segment's file
	// ahead of its end with fallocate, so appends write into allocated
	// space and an fdatasync has no size change to record. Chronik's
	// default is true, unlike Kafka's (false), because its reservation
	// grows with the data instead of covering the whole segment: 64 KiB
	// for a fresh log, then as much as the segment holds, at least 1 MiB,
	// at most 16 MiB (wal.Options.PreallocateBytes). The partitions sweep
	// and the gate measured it: acks=-1 CPU per record about 5% lower with
	// it, acks=1 not worse.
	Preallocate bool
	// RecoveryCheckpointMs (log.flush.offset.checkpoint.interval.ms): how
	// often each partition that grew records its recovery point and a
	// producer-state snapshot, which bounds what a restart after a crash
	// scans; 0 turns it off (then only rolls and clean stops record them).
	RecoveryCheckpointMs int64
	// RecoveryCheckpointMinBytes (log.flush.offset.checkpoint.min.bytes,
	// Chronik's): a partition is checkpointed at a tick only once its log
	// holds this much past its recovery point, or when its last checkpoint
	// is recoveryCheckpointMaxTicks intervals old; 0: at every tick it grew.
	RecoveryCheckpointMinBytes int64
	RecoveryThreads            int32 // num.recovery.threads.per.data.dir: partitions opened (and checkpointed) at once
	QueuedMaxRequests          int32 // queued.max.requests: per-connection bound on queued requests
	QueuedMaxBytes             int64 // queued.max.request.bytes: per-connection bound on queued bytes
	ConnectionsMaxIdleMs       int64 // connections.max.idle.ms
	GroupInitialRebalanceMs    int64 // group.initial.rebalance.delay.ms (consumer groups issue)
	BrokerHeartbeatMs          int64 // broker.heartbeat.interval.ms (cluster: heartbeats to the controller)
	BrokerSessionTimeoutMs     int64 // broker.session.timeout.ms (cluster: fenced after this without heartbeats)
	// controller.quorum.election.timeout.ms (cluster): the metadata
	// shard's Raft election timeout; a follower campaigns after hearing
	// nothing from the leader for between one and two of it. 0: raftmeta's
	// default.
	ControllerElectionTimeoutMs int64

	Replication ReplicationConfig // replica.* (config_replication.go)

	// Clustered is set by the binary when the broker will join a cluster
	// (--cluster): partitions then wait for the metadata's leadership
	// instead of leading at once. Not a config key.
	Clustered bool

	// Consumer groups and __consumer_offsets.
	GroupMinSessionTimeoutMs int32   // group.min.session.timeout.ms
	GroupMaxSessionTimeoutMs int32   // group.max.session.timeout.ms
	GroupMaxSize             int32   // group.max.size
	OffsetMetadataMaxBytes   int32   // offset.metadata.max.bytes
	OffsetsTopicPartitions   int32   // offsets.topic.num.partitions (fixed once the topic exists)
	OffsetsTopicReplication  int16   // offsets.topic.replication.factor (cluster only; standalone is 1)
	OffsetsTopicSegmentBytes int64   // offsets.topic.segment.bytes
	OffsetsLoadBufferSize    int32   // offsets.load.buffer.size: read size when loading groups
	CleanerMinCleanableRatio float64 // log.cleaner.min.cleanable.ratio: compaction of __consumer_offsets

	debug debugConfig // test hooks; empty unless built with -tags chronikdebug (debug.go)
}

// DefaultConfig returns Kafka's defaults adapted to a standalone broker.
func DefaultConfig() Config {
	return Config{
		NodeID:                     0,
		Listen:                     "127.0.0.1:9092",
		DataDir:                    "./data",
		NumPartitions:              1,
		DefaultReplication:         1,
		AutoCreateTopics:           true,
		MessageMaxBytes:            1048588,
		SocketRequestMaxBytes:      100 * 1024 * 1024,
		SegmentBytes:               1 << 30,
		SegmentMs:                  7 * 24 * 3600 * 1000,
		RetentionMs:                7 * 24 * 3600 * 1000,
		RetentionBytes:             -1,
		RetentionCheckMs:           5 * 60 * 1000,
		IndexIntervalBytes:         4096,
		MinInsyncReplicas:          1,
		MessageTimestampType:       "CreateTime",
		CleanupPolicy:              "delete",
		FlushPolicy:                "ack",
		FlushMs:                    1000,
		FlushMessages:              -1,
		FlushMode:                  "each-log",
		FlushWorkers:               8,
		Preallocate:                true,
		RecoveryCheckpointMs:       5000,
		RecoveryCheckpointMinBytes: 1 << 20,
		RecoveryThreads:            16,
		QueuedMaxRequests:          500,
		QueuedMaxBytes:             100 * 1024 * 1024,
		ConnectionsMaxIdleMs:       10 * 60 * 1000,
		GroupInitialRebalanceMs:    3000,
		BrokerHeartbeatMs:          100,
		BrokerSessionTimeoutMs:     1000,

		GroupMinSessionTimeoutMs: 6000,
		GroupMaxSessionTimeoutMs: 1800000,
		GroupMaxSize:             math.MaxInt32,
		OffsetMetadataMaxBytes:   4096,
		OffsetsTopicPartitions:   50,
		OffsetsTopicReplication:  3,
		OffsetsTopicSegmentBytes: 100 * 1024 * 1024,
		OffsetsLoadBufferSize:    5 * 1024 * 1024,
		CleanerMinCleanableRatio: 0.5,

		Replication: defaultReplicationConfig(),
	}
}

// ParseProperties applies a properties-file body to c. Unknown keys are an
// error so that a typo does not silently fall back to a default.
func (c *Config) ParseProperties(body string) error {
	for i, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v, ok = strings.Cut(line, ":")
		}
		if !ok {
			return fmt.Errorf("config line %d: %q is not key=value", i+1, line)
		}
		if err := c.Set(strings.TrimSpace(k), strings.TrimSpace(v)); err != nil {
			return fmt.Errorf("config line %d: %w", i+1, err)
		}
	}
	return nil
}

type configKey struct {
	set func(c *Config, v string) error
	get func(c *Config) string
}

func intKey32(p func(c *Config) *int32) configKey {
	return configKey{
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				return err
			}
			*p(c) = int32(n)
			return nil
		},
		get: func(c *Config) string { return strconv.FormatInt(int64(*p(c)), 10) },
	}
}

func intKey64(p func(c *Config) *int64) configKey {
	return configKey{
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return err
			}
			*p(c) = n
			return nil
		},
		get: func(c *Config) string { return strconv.FormatInt(*p(c), 10) },
	}
}

func strKey(p func(c *Config) *string) configKey {
	return configKey{
		set: func(c *Config, v string) error { *p(c) = v; return nil },
		get: func(c *Config) string { return *p(c) },
	}
}

// brokerKeys maps every broker config key Chronik honours to its field.
var brokerKeys = map[string]configKey{
	"node.id":                                 intKey32(func(c *Config) *int32 { return &c.NodeID }),
	"broker.id":                               intKey32(func(c *Config) *int32 { return &c.NodeID }),
	"listeners":                               strKey(func(c *Config) *string { return &c.Listen }),
	"advertised.listeners":                    strKey(func(c *Config) *string { return &c.AdvertisedListener }),
	"log.dirs":                                strKey(func(c *Config) *string { return &c.DataDir }),
	"num.partitions":                          intKey32(func(c *Config) *int32 { return &c.NumPartitions }),
	"message.max.bytes":                       intKey32(func(c *Config) *int32 { return &c.MessageMaxBytes }),
	"socket.request.max.bytes":                intKey32(func(c *Config) *int32 { return &c.SocketRequestMaxBytes }),
	"log.segment.bytes":                       intKey64(func(c *Config) *int64 { return &c.SegmentBytes }),
	"log.roll.ms":                             intKey64(func(c *Config) *int64 { return &c.SegmentMs }),
	"log.retention.ms":                        intKey64(func(c *Config) *int64 { return &c.RetentionMs }),
	"log.retention.bytes":                     intKey64(func(c *Config) *int64 { return &c.RetentionBytes }),
	"log.retention.check.interval.ms":         intKey64(func(c *Config) *int64 { return &c.RetentionCheckMs }),
	"log.index.interval.bytes":                intKey32(func(c *Config) *int32 { return &c.IndexIntervalBytes }),
	"min.insync.replicas":                     intKey32(func(c *Config) *int32 { return &c.MinInsyncReplicas }),
	"log.message.timestamp.type":              strKey(func(c *Config) *string { return &c.MessageTimestampType }),
	"log.cleanup.policy":                      strKey(func(c *Config) *string { return &c.CleanupPolicy }),
	"flush.policy":                            strKey(func(c *Config) *string { return &c.FlushPolicy }),
	"log.flush.interval.ms":                   intKey64(func(c *Config) *int64 { return &c.FlushMs }),
	"log.preallocate":                         boolKey(func(c *Config) *bool { return &c.Preallocate }),
	"log.flush.interval.messages":             intKey64(func(c *Config) *int64 { return &c.FlushMessages }),
	"log.flush.mode":                          strKey(func(c *Config) *string { return &c.FlushMode }),
	"log.flush.workers":                       intKey32(func(c *Config) *int32 { return &c.FlushWorkers }),
	"log.flush.offset.checkpoint.interval.ms": intKey64(func(c *Config) *int64 { return &c.RecoveryCheckpointMs }),
	"log.flush.offset.checkpoint.min.bytes":   intKey64(func(c *Config) *int64 { return &c.RecoveryCheckpointMinBytes }),
	"num.recovery.threads.per.data.dir":       intKey32(func(c *Config) *int32 { return &c.RecoveryThreads }),
	"queued.max.requests":                     intKey32(func(c *Config) *int32 { return &c.QueuedMaxRequests }),
	"queued.max.request.bytes":                intKey64(func(c *Config) *int64 { return &c.QueuedMaxBytes }),
	"connections.max.idle.ms":                 intKey64(func(c *Config) *int64 { return &c.ConnectionsMaxIdleMs }),
	"group.initial.rebalance.delay.ms":        intKey64(func(c *Config) *int64 { return &c.GroupInitialRebalanceMs }),
	"broker.heartbeat.interval.ms":            intKey64(func(c *Config) *int64 { return &c.BrokerHeartbeatMs }),
	"broker.session.timeout.ms":               intKey64(func(c *Config) *int64 { return &c.BrokerSessionTimeoutMs }),
	"group.min.session.timeout.ms":            intKey32(func(c *Config) *int32 { return &c.GroupMinSessionTimeoutMs }),
	"group.max.session.timeout.ms":            intKey32(func(c *Config) *int32 { return &c.GroupMaxSessionTimeoutMs }),
	"group.max.size":                          intKey32(func(c *Config) *int32 { return &c.GroupMaxSize }),
	"offset.metadata.max.bytes":               intKey32(func(c *Config) *int32 { return &c.OffsetMetadataMaxBytes }),
	"offsets.topic.num.partitions":            intKey32(func(c *Config) *int32 { return &c.OffsetsTopicPartitions }),
	"offsets.topic.segment.bytes":             intKey64(func(c *Config) *int64 { return &c.OffsetsTopicSegmentBytes }),
	"offsets.load.buffer.size":                intKey32(func(c *Config) *int32 { return &c.OffsetsLoadBufferSize }),
	"log.cleaner.min.cleanable.ratio": {
		set: func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			c.CleanerMinCleanableRatio = f
			return err
		},
		get: func(c *Config) string { return strconv.FormatFloat(c.CleanerMinCleanableRatio, 'g', -1, 64) },
	},
	"offsets.topic.replication.factor": {
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 16)
			c.OffsetsTopicReplication = int16(n)
			return err
		},
		get: func(c *Config) string { return strconv.Itoa(int(c.OffsetsTopicReplication)) },
	},
	"default.replication.factor": {
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 16)
			c.DefaultReplication = int16(n)
			return err
		},
		get: func(c *Config) string { return strconv.Itoa(int(c.DefaultReplication)) },
	},
	"auto.create.topics.enable": {
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			c.AutoCreateTopics = b
			return err
		},
		get: func(c *Config) string { return strconv.FormatBool(c.AutoCreateTopics) },
	},

	// Cluster: the metadata shard (raftmeta).
	"controller.quorum.election.timeout.ms": intKey64(func(c *Config) *int64 { return &c.ControllerElectionTimeoutMs }),
}

// Set sets one broker config key.
func (c *Config) Set(key, value string) error {
	k, ok := brokerKeys[key]
	if !ok {
		k, ok = debugKeys[key]
	}
	if !ok {
		return fmt.Errorf("unknown config key %q", key)
	}
	if key == "listeners" || key == "advertised.listeners" {
		// Accept Kafka's "PLAINTEXT://host:port" form.
		if _, rest, ok := strings.Cut(value, "://"); ok {
			value = rest
		}
	}
	if err := k.set(c, value); err != nil {
		return fmt.Errorf("config %s=%q: %w", key, value, err)
	}
	return nil
}

// Get returns the string value of a broker config key.
func (c *Config) Get(key string) (string, bool) {
	k, ok := brokerKeys[key]
	if !ok {
		return "", false
	}
	return k.get(c), true
}

// BrokerConfigKeys lists the broker keys in sorted order.
func BrokerConfigKeys() []string {
	keys := make([]string, 0, len(brokerKeys))
	for k := range brokerKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Validate checks bounds that would otherwise surface as odd failures later.
func (c *Config) Validate() error {
	switch {
	case c.NumPartitions < 1:
		return fmt.Errorf("num.partitions must be >= 1, got %d", c.NumPartitions)
	case c.MessageMaxBytes < 64:
		return fmt.Errorf("message.max.bytes too small: %d", c.MessageMaxBytes)
	case c.SocketRequestMaxBytes < 1024:
		return fmt.Errorf("socket.request.max.bytes too small: %d", c.SocketRequestMaxBytes)
	case c.SegmentBytes < 1024:
		return fmt.Errorf("log.segment.bytes too small: %d", c.SegmentBytes)
	case c.FlushPolicy != "ack" && c.FlushPolicy != "interval":
		return fmt.Errorf("flush.policy must be ack or interval, got %q", c.FlushPolicy)
	case c.FlushMode != "each-log" && c.FlushMode != "syncfs":
		return fmt.Errorf("log.flush.mode must be each-log or syncfs, got %q", c.FlushMode)
	case c.FlushWorkers < 1 || c.FlushWorkers > 1024:
		return fmt.Errorf("log.flush.workers must be 1..1024, got %d", c.FlushWorkers)
	case c.DataDir == "":
		return fmt.Errorf("log.dirs must be set")
	case c.RecoveryCheckpointMs < 0:
		return fmt.Errorf("log.flush.offset.checkpoint.interval.ms must be >= 0, got %d", c.RecoveryCheckpointMs)
	case c.RecoveryCheckpointMinBytes < 0:
		return fmt.Errorf("log.flush.offset.checkpoint.min.bytes must be >= 0, got %d", c.RecoveryCheckpointMinBytes)
	case c.RecoveryThreads < 1 || c.RecoveryThreads > 1024:
		return fmt.Errorf("num.recovery.threads.per.data.dir must be 1..1024, got %d", c.RecoveryThreads)
	}
	if err := c.debug.validate(); err != nil {
		return err
	}
	if err := c.validateGroups(); err != nil {
		return err
	}
	if err := c.Replication.validate(); err != nil {
		return err
	}
	if c.AdvertisedListener == "" {
		c.AdvertisedListener = c.Listen
	}
	return nil
}

// validateGroups checks the consumer-group settings.
func (c *Config) validateGroups() error {
	switch {
	case c.OffsetsTopicPartitions < 1:
		return fmt.Errorf("offsets.topic.num.partitions must be >= 1, got %d", c.OffsetsTopicPartitions)
	case c.OffsetsTopicReplication < 1:
		return fmt.Errorf("offsets.topic.replication.factor must be >= 1, got %d", c.OffsetsTopicReplication)
	case c.OffsetsTopicSegmentBytes < 1024:
		return fmt.Errorf("offsets.topic.segment.bytes too small: %d", c.OffsetsTopicSegmentBytes)
	case c.OffsetsLoadBufferSize < 1024:
		return fmt.Errorf("offsets.load.buffer.size too small: %d", c.OffsetsLoadBufferSize)
	case c.GroupMinSessionTimeoutMs < 0 || c.GroupMaxSessionTimeoutMs < c.GroupMinSessionTimeoutMs:
		return fmt.Errorf("group session timeouts: need 0 <= group.min.session.timeout.ms (%d) <= group.max.session.timeout.ms (%d)",
			c.GroupMinSessionTimeoutMs, c.GroupMaxSessionTimeoutMs)
	case c.GroupMaxSize < 1:
		return fmt.Errorf("group.max.size must be >= 1, got %d", c.GroupMaxSize)
	case c.GroupInitialRebalanceMs < 0:
		return fmt.Errorf("group.initial.rebalance.delay.ms must be >= 0, got %d", c.GroupInitialRebalanceMs)
	case c.OffsetMetadataMaxBytes < 0:
		return fmt.Errorf("offset.metadata.max.bytes must be >= 0, got %d", c.OffsetMetadataMaxBytes)
	case !(c.CleanerMinCleanableRatio > 0 && c.CleanerMinCleanableRatio <= 1):
		return fmt.Errorf("log.cleaner.min.cleanable.ratio must be in (0, 1], got %v", c.CleanerMinCleanableRatio)
	}
	return nil
}
