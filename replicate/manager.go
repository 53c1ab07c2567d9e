package replicate

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronik/chronik/wal"
)

// Replica is a local follower replica, as the fetcher writes it
// (engine/partition.Partition implements it). The fetcher calls its
// methods from one goroutine at a time.
type Replica interface {
	String() string
	// Log is the replica's log: its end offset, epochs and Sync.
	Log() *wal.Log
	// AppendReplicated appends whole batches fetched from the leader,
	// byte-exact, updating producer state; hdrs is reusable scratch.
	AppendReplicated(batches []byte, hdrs []wal.BatchHeader) ([]wal.BatchHeader, error)
	// TruncateTo cuts the log at a divergence point.
	TruncateTo(offset int64) error
	// TruncateFullyAndStartAt empties the log and restarts it at offset.
	TruncateFullyAndStartAt(offset int64) error
	// FollowerHighWatermark records the leader's high watermark.
	FollowerHighWatermark(leaderHW int64)
}

// Target is one partition to follow: its leader and the leader epoch this
// broker knows for it.
type Target struct {
	Topic       string
	TopicID     [16]byte
	Partition   int32
	Leader      int32
	LeaderEpoch int32
	Replica     Replica
}

type tpKey struct {
	topic     [16]byte
	partition int32
}

func (t Target) key() tpKey { return tpKey{t.TopicID, t.Partition} }

// Options configure a Manager. Zero durations and sizes take Kafka's
// defaults (replica.fetch.*).
type Options struct {
	Self        int32
	BrokerEpoch func() int64 // this broker's registration epoch, sent as ReplicaState.ReplicaEpoch
	// LeaderAddr returns a broker's replication address (cluster config).
	LeaderAddr func(id int32) (string, bool)

	MaxWait           time.Duration // replica.fetch.wait.max.ms, default 500ms
	MinBytes          int32         // replica.fetch.min.bytes, default 1
	PartitionMaxBytes int32         // replica.fetch.max.bytes, default 1 MiB
	ResponseMaxBytes  int32         // replica.fetch.response.max.bytes, default 10 MiB
	Backoff           time.Duration // replica.fetch.backoff.ms after an error, default 50ms
	// Fsync: fetch again (report the new log end offset) only after what
	// was appended is fdatasync'd (replica.fsync.enable, default true; see
	// doc.go).
	Fsync bool
	// DialTimeout bounds a connection attempt to a leader; default 2s.
	DialTimeout time.Duration

	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.MaxWait <= 0 {
		o.MaxWait = 500 * time.Millisecond
	}
	if o.MinBytes <= 0 {
		o.MinBytes = 1
	}
	if o.PartitionMaxBytes <= 0 {
		o.PartitionMaxBytes = 1 << 20
	}
	if o.ResponseMaxBytes <= 0 {
		o.ResponseMaxBytes = 10 << 20
	}
	if o.Backoff <= 0 {
		o.Backoff = 50 * time.Millisecond
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.BrokerEpoch == nil {
		o.BrokerEpoch = func() int64 { return -1 }
	}
}

// Manager runs the fetchers of one broker. Methods are safe for
// concurrent use.
type Manager struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	fetchers map[int32]*fetcher // by leader broker id
	retired  map[int32]int64    // bytes read by stopped fetchers, by leader
	closed   bool

	stats managerStats
}

// managerStats are counters over the manager's life (every fetcher).
type managerStats struct {
	fetches, bytesRead, recordBytes, truncations, errors atomic.Int64
}

// Stats are the follower-side replication counters.
type Stats struct {
	Fetches     int64 // fetch cycles answered
	BytesRead   int64 // bytes read from leaders' sockets (response frames)
	RecordBytes int64 // record batch bytes appended
	Truncations int64 // divergence truncations and log resets
	Errors      int64 // partition or connection errors met
	// PerLeader: bytes read from each leader's socket, by leader id.
	PerLeader map[int32]int64
	// Followed is how many partitions are followed now.
	Followed int
}

// NewManager returns a manager following nothing yet.
func NewManager(opts Options) *Manager {
	opts.setDefaults()
	return &Manager{opts: opts, log: opts.Logger.With("component", "replicate"), fetchers: map[int32]*fetcher{}, retired: map[int32]int64{}}
}

// Set makes the manager follow exactly targets. A partition whose leader
// or leader epoch changed moves to the new leader's fetcher; one that is
// no longer listed is never touched again once Set returns (see doc.go).
// Targets led by this broker itself are ignored.
func (m *Manager) Set(targets []Target) {
	want := map[int32]map[tpKey]Target{}
	for _, t := range targets {
		if t.Leader == m.opts.Self || t.Leader < 0 {
			continue
		}
		if want[t.Leader] == nil {
			want[t.Leader] = map[tpKey]Target{}
		}
		want[t.Leader][t.key()] = t
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	for id, f := range m.fetchers {
		if f.retain(want[id]) == 0 && want[id] == nil {
			f.stop()
			m.retired[id] += f.bytesRead.Load()
			delete(m.fetchers, id)
		}
	}
	for id, ts := range want {
		f := m.fetchers[id]
		if f == nil {
			f = newFetcher(m, id)
			m.fetchers[id] = f
		}
		f.add(ts)
	}
}

// Close stops every fetcher and waits for them.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	fs := m.fetchers
	m.fetchers = map[int32]*fetcher{}
	m.mu.Unlock()
	for _, f := range fs {
		f.stop()
	}
}

// Stats returns the counters.
func (m *Manager) Stats() Stats {
	s := Stats{
		Fetches:     m.stats.fetches.Load(),
		BytesRead:   m.stats.bytesRead.Load(),
		RecordBytes: m.stats.recordBytes.Load(),
		Truncations: m.stats.truncations.Load(),
		Errors:      m.stats.errors.Load(),
		PerLeader:   map[int32]int64{},
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, n := range m.retired {
		s.PerLeader[id] = n
	}
	for id, f := range m.fetchers {
		s.PerLeader[id] += f.bytesRead.Load()
		s.Followed += f.count()
	}
	return s
}

// Following lists the partitions followed from each leader, for tests and
// metrics: leader id -> "topic-partition" names, sorted.
func (m *Manager) Following() map[int32][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int32][]string{}
	for id, f := range m.fetchers {
		f.mu.Lock()
		for _, st := range f.parts {
			out[id] = append(out[id], st.t.Replica.String())
		}
		f.mu.Unlock()
		slices.Sort(out[id])
	}
	return out
}
