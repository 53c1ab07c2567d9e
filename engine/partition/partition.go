package partition

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Partition is one partition replica this broker holds. All methods are
// safe for concurrent use.
type Partition struct {
	topic string
	index int32
	log   *wal.Log
	lg    *slog.Logger

	epoch atomic.Int32 // leader epoch stamped on appends (written under mu and rmu)
	role  atomic.Int32 // RoleLeader / RoleFollower (written under mu and rmu)
	sole  atomic.Bool  // leader and the only ISR member: HW = LEO
	hw    atomic.Int64 // high watermark when not sole

	// snapMu serialises Checkpoint with truncations (taken before mu):
	// a snapshot never describes a log a truncation changed under it.
	snapMu     sync.Mutex
	snapshotAt int64 // offset of the newest snapshot written or loaded; guarded by snapMu (or Open)

	mu        sync.Mutex // producer state + append; see doc.go
	producers map[int64]*producerState
	restored  RestoreStats // how the producer state was last rebuilt (snapshot.go)

	// rmu guards the replication state (replica.go); taken after mu.
	rmu       sync.Mutex
	settings  Settings
	lead      Leadership
	ls        *leaderState // nil unless leader
	hwWaiters []hwWaiter   // acks=-1 appends waiting for the high watermark

	changes atomic.Uint64 // appends and HW moves so far (wake-up sequence; see doc.go)

	// Unflushed counts records since the last flush.messages sync (the
	// engine's interval flush policy).
	Unflushed atomic.Int64

	wmu     sync.Mutex
	waiters map[*Waiter]struct{}
}

// Open opens (recovering) the log in dir and restores the idempotent
// producer state: from the newest usable snapshot and the batch headers
// after it, or from every batch header (snapshot.go).
func Open(fsys wal.FS, dir, topic string, index int32, opts wal.Options, lg *slog.Logger) (*Partition, error) {
	l, err := wal.Open(fsys, dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open partition %s-%d: %w", topic, index, err)
	}
	p := New(topic, index, l, lg)
	if err := p.restoreProducersLocked(); err != nil {
		l.Close()
		return nil, fmt.Errorf("rebuild producer state %s-%d: %w", topic, index, err)
	}
	return p, nil
}

// New wraps an open log (tests; Open for brokers).
func New(topic string, index int32, l *wal.Log, lg *slog.Logger) *Partition {
	if lg == nil {
		lg = slog.Default()
	}
	p := &Partition{
		topic:     topic,
		index:     index,
		log:       l,
		lg:        lg,
		producers: make(map[int64]*producerState),
		waiters:   make(map[*Waiter]struct{}),
		restored:  RestoreStats{SnapshotOffset: -1},
	}
	p.SetSettings(Settings{})
	return p
}

// Topic is the partition's topic name.
func (p *Partition) Topic() string { return p.topic }

// Index is the partition number.
func (p *Partition) Index() int32 { return p.index }

func (p *Partition) String() string { return p.topic + "-" + strconv.Itoa(int(p.index)) }

// Log is the partition's log, for reads, stats and retention. Appends go
// through AppendProduced and AppendInternal.
func (p *Partition) Log() *wal.Log { return p.log }

// LeaderEpoch is the partition's current leader epoch.
func (p *Partition) LeaderEpoch() int32 { return p.epoch.Load() }

// HighWatermark is the offset consumers may read up to (exclusive): the
// log end offset while this broker leads and is the only in-sync replica,
// else the smallest LEO over the ISR (leader) or the leader's high
// watermark bounded by the local LEO (follower).
func (p *Partition) HighWatermark() int64 {
	if p.sole.Load() {
		return p.log.LogEndOffset()
	}
	return p.hw.Load()
}

// RestoreHighWatermark sets the high watermark a restarted broker
// checkpointed (bounded by the LEO); Open's caller calls it before the
// partition is shared.
func (p *Partition) RestoreHighWatermark(hw int64) { p.hw.Store(min(max(hw, 0), p.log.LogEndOffset())) }

// CheckLeaderEpoch fences a request that names the leader epoch it
// believes current (KIP-320; -1 = not checked): an older one gets
// FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH.
func (p *Partition) CheckLeaderEpoch(current int32) *kerr.Error {
	switch e := p.LeaderEpoch(); {
	case current < 0 || current == e:
		return nil
	case current < e:
		return kerr.FencedLeaderEpoch
	default:
		return kerr.UnknownLeaderEpoch
	}
}

// AppendProduced appends a validated produced batch whose header is h at
// the current leader epoch, unless it is an idempotent producer's retry of
// a batch already stored (dup: base is the original's offset). The
// leadership check, the sequence check and the append are atomic. minISR
// > 0 (acks=-1) refuses the append with NOT_ENOUGH_REPLICAS when the ISR
// is smaller. The error is the Kafka error for the client: a fenced epoch
// or a sequence gap; NOT_LEADER_OR_FOLLOWER when this broker does not
// lead the partition or the log was closed under the append (shutdown,
// deletion, a move); KAFKA_STORAGE_ERROR (logged) when the disk failed,
// now or before (the log is offline on this broker for good, whatever the
// metadata says about its leadership: Kafka's offline partition).
//
// The append is counted as a change (ChangeCount), but the parked fetches
// are not woken: the caller calls RunWaiters, with no lock held, once
// every batch of its request is appended, so that one fetch answer
// carries them all and runs on the caller's goroutine.
func (p *Partition) AppendProduced(h wal.BatchHeader, batch []byte, minISR int) (base int64, dup bool, _ *kerr.Error) {
	if p.log.Failed() {
		return 0, false, kerr.KafkaStorageError
	}
	p.mu.Lock()
	if p.role.Load() != RoleLeader {
		p.mu.Unlock()
		return 0, false, kerr.NotLeaderForPartition
	}
	if minISR > 1 && p.ISRSize() < minISR {
		p.mu.Unlock()
		return 0, false, kerr.NotEnoughReplicas
	}
	if h.ProducerID >= 0 {
		dupBase, dup, err := p.checkSequence(h)
		if err != nil || dup {
			p.mu.Unlock()
			return dupBase, dup, err
		}
	}
	base, err := p.log.Append(batch, p.LeaderEpoch())
	if err == nil && h.ProducerID >= 0 {
		p.recordProducerBatch(h, base)
	}
	p.mu.Unlock()
	if err != nil {
		return 0, false, p.appendError(err)
	}
	p.changes.Add(1) // the parked fetches: the caller's RunWaiters
	return base, false, nil
}

// appendError maps a failed append to the client's error.
func (p *Partition) appendError(err error) *kerr.Error {
	if errors.Is(err, wal.ErrClosed) {
		return kerr.NotLeaderForPartition // the client looks the partition up again
	}
	p.lg.Error("append failed", "partition", p.String(), "err", err)
	return kerr.KafkaStorageError
}

// AppendInternal appends a batch the broker built itself (the group
// coordinator's records) at the current leader epoch. It returns
// NOT_LEADER_OR_FOLLOWER when this broker does not lead the partition,
// else the wal's error unchanged.
func (p *Partition) AppendInternal(batch []byte) (int64, error) {
	p.mu.Lock()
	if p.role.Load() != RoleLeader {
		p.mu.Unlock()
		return 0, kerr.NotLeaderForPartition
	}
	base, err := p.log.Append(batch, p.LeaderEpoch())
	p.mu.Unlock()
	if err == nil {
		p.appended()
	}
	return base, err
}

// appended notes an append: it may advance the high watermark (a sole
// in-sync leader's is its LEO) and wakes the parked fetches.
func (p *Partition) appended() { p.changed() }

// changed counts a change readers may wait for (an append, a high
// watermark move) and wakes the parked fetches.
func (p *Partition) changed() {
	p.changes.Add(1)
	p.WakeWaiters()
}
