package engine

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/chronik/chronik/wal"
)

// partition is one partition this broker leads. Its log end offset and
// high watermark live in the wal.Log; standalone, HW == LEO.
type partition struct {
	topic string
	index int32
	log   *wal.Log

	// epoch is the leader epoch: 0 standalone; in a cluster the metadata
	// mirror stores each new epoch (see cluster.go).
	epoch atomic.Int32

	mu        sync.Mutex // producer state + append; see doc.go for lock order
	producers map[int64]*producerState

	unflushed atomic.Int64 // records since the last flush.messages sync

	wmu     sync.Mutex
	waiters map[*fetchWaiter]struct{} // long-poll fetches watching this partition
}

func newPartition(topic string, index int32, l *wal.Log) *partition {
	return &partition{
		topic:     topic,
		index:     index,
		log:       l,
		producers: make(map[int64]*producerState),
		waiters:   make(map[*fetchWaiter]struct{}),
	}
}

// leaderEpoch is the partition's current leader epoch.
func (p *partition) leaderEpoch() int32 { return p.epoch.Load() }

func (p *partition) String() string { return p.topic + "-" + strconv.Itoa(int(p.index)) }

// highWatermark is the offset consumers may read up to (exclusive).
func (p *partition) highWatermark() int64 { return p.log.LogEndOffset() }

// fetchWaiter is a parked long-poll fetch. notify is buffered (cap 1) and
// never closed; partitions send to it without blocking.
type fetchWaiter struct {
	notify chan struct{}
}

func (p *partition) addWaiter(w *fetchWaiter) {
	p.wmu.Lock()
	p.waiters[w] = struct{}{}
	p.wmu.Unlock()
}

func (p *partition) removeWaiter(w *fetchWaiter) {
	p.wmu.Lock()
	delete(p.waiters, w)
	p.wmu.Unlock()
}

// wakeWaiters tells every parked fetch on this partition to look again.
func (p *partition) wakeWaiters() {
	p.wmu.Lock()
	for w := range p.waiters {
		select {
		case w.notify <- struct{}{}:
		default:
		}
	}
	p.wmu.Unlock()
}
