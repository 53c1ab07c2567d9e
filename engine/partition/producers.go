package partition

import (
	"math"

	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kerr"
)

// maxCachedBatches is how many recent batches per producer are remembered
// for duplicate detection, as in Kafka (the client's max in-flight is 5).
const maxCachedBatches = 5

type cachedBatch struct {
	firstSeq, lastSeq int32
	baseOffset        int64
}

// producerState is what one idempotent producer id has written to one
// partition. Guarded by partition.mu.
type producerState struct {
	epoch   int16
	batches []cachedBatch // oldest first, at most maxCachedBatches
}

func (s *producerState) lastSeq() int32 { return s.batches[len(s.batches)-1].lastSeq }

func (s *producerState) record(first, last int32, base int64) {
	if len(s.batches) == maxCachedBatches {
		copy(s.batches, s.batches[1:])
		s.batches = s.batches[:maxCachedBatches-1]
	}
	s.batches = append(s.batches, cachedBatch{first, last, base})
}

// nextSeq is the sequence after s, wrapping at int32 max as Kafka does.
func nextSeq(s int32) int32 {
	if s == math.MaxInt32 {
		return 0
	}
	return s + 1
}

// lastSequence of a batch whose first sequence is first and which holds
// lastOffsetDelta+1 records, wrapping at int32 max.
func lastSequence(first, lastOffsetDelta int32) int32 {
	s := int64(first) + int64(lastOffsetDelta)
	if s > math.MaxInt32 {
		s -= math.MaxInt32 + 1
	}
	return int32(s)
}

// checkSequence decides what to do with an idempotent batch. It returns
// (duplicateBaseOffset, true, nil) for a retried batch that is already in the
// log, or an error for a fenced epoch or a sequence gap. Caller holds p.mu.
func (p *Partition) checkSequence(h wal.BatchHeader) (int64, bool, *kerr.Error) {
	first := h.BaseSequence
	last := lastSequence(first, h.LastOffsetDelta)
	s := p.producers[h.ProducerID]
	switch {
	case s == nil || len(s.batches) == 0:
		if s != nil && h.ProducerEpoch < s.epoch {
			return 0, false, kerr.InvalidProducerEpoch
		}
		if first != 0 {
			return 0, false, kerr.OutOfOrderSequenceNumber
		}
	case h.ProducerEpoch < s.epoch:
		return 0, false, kerr.InvalidProducerEpoch
	case h.ProducerEpoch > s.epoch:
		if first != 0 {
			return 0, false, kerr.OutOfOrderSequenceNumber
		}
	default:
		for _, c := range s.batches {
			if c.firstSeq == first && c.lastSeq == last {
				return c.baseOffset, true, nil
			}
		}
		if first != nextSeq(s.lastSeq()) {
			return 0, false, kerr.OutOfOrderSequenceNumber
		}
	}
	return 0, false, nil
}

// recordProducerBatch updates producer state after an append of h at base.
// Caller holds p.mu (or is rebuilding at open).
func (p *Partition) recordProducerBatch(h wal.BatchHeader, base int64) {
	s := p.producers[h.ProducerID]
	if s == nil {
		s = &producerState{}
		p.producers[h.ProducerID] = s
	}
	if h.ProducerEpoch != s.epoch {
		s.epoch = h.ProducerEpoch
		s.batches = s.batches[:0]
	}
	s.record(h.BaseSequence, lastSequence(h.BaseSequence, h.LastOffsetDelta), base)
}
