package engine

import (
	"errors"
	"sync"

	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Produce: v3-13
//
// Behaviour:
//   - Only v2 RecordBatches (magic 2, produce v3+). Each partition's records
//     must be exactly one batch; it is validated (length, magic, CRC32C,
//     attributes, record count, record framing when uncompressed,
//     max.message.bytes) and stored byte-exact after the broker sets
//     baseOffset and partitionLeaderEpoch. LogAppendTime topics get the
//     broker time stamped and the CRC recomputed.
//   - Idempotent batches are checked against the producer's state: a retried
//     batch is answered with its original base offset and not stored again.
//   - Internal topics (__consumer_offsets) are refused with
//     INVALID_TOPIC_EXCEPTION, as in Kafka.
//   - acks=0: no response. acks=1: answered after the write. acks=-1:
//     answered after the batch is fdatasync'd (group commit in wal), unless
//     flush.policy=interval. Other acks: INVALID_REQUIRED_ACKS.
//
// Version notes: v5 LogStartOffset; v8 per-record errors and ErrorMessage;
// v9 flexible; v13 topic ids instead of names (KIP-516).

func init() { regKey(0, 3, 13, handleProduce) }

// producePart is the outcome of one partition of a produce request.
type producePart struct {
	t       *kmsg.ProduceResponseTopicPartition
	p       *partition
	through int64 // sync through this offset (exclusive) before answering
}

func handleProduce(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ProduceRequest)
	b.ctr.produceRequests.Add(1)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	acksOK := req.Acks == -1 || req.Acks == 0 || req.Acks == 1
	var waits []producePart
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
		for i, rp := range rt.Partitions {
			sp := &resp.Topics[len(resp.Topics)-1].Partitions[i]
			if !acksOK {
				sp.ErrorCode = kerr.InvalidRequiredAcks.Code
				continue
			}
			var id [16]byte
			if req.Version >= 13 {
				id = rt.TopicID
			}
			p, through, err := b.produceOne(rt.Topic, id, rp, sp)
			if err != nil {
				b.ctr.produceErrors.Add(1)
				sp.ErrorCode = err.Code
				if req.Version >= 8 {
					sp.ErrorMessage = strp(err.Message)
				}
				continue
			}
			if through > 0 {
				waits = append(waits, producePart{sp, p, through})
			}
		}
	}
	if req.Acks == 0 {
		c.respond(nil)
		return nil, nil
	}
	if req.Acks != -1 || b.cfg.FlushPolicy != "ack" || len(waits) == 0 {
		return resp, nil
	}
	b.awaitDurable(resp, waits, c.respond)
	return nil, nil
}

// awaitDurable answers resp once every partition in waits is synced through
// its offset; a sync error turns that partition's answer into an error.
func (b *Broker) awaitDurable(resp *kmsg.ProduceResponse, waits []producePart, respond func(kmsg.Response)) {
	var (
		mu      sync.Mutex
		pending = len(waits)
	)
	for _, w := range waits {
		w.p.log.Sync(w.through, func(err error) {
			mu.Lock()
			if err != nil {
				w.t.ErrorCode = kerr.KafkaStorageError.Code
				w.t.BaseOffset = -1
			}
			pending--
			last := pending == 0
			mu.Unlock()
			if last {
				respond(resp)
			}
		})
	}
}

// produceOne validates and appends one partition's batch, filling sp. It
// returns the offset to sync through (0 when nothing new was written).
func (b *Broker) produceOne(name string, id [16]byte, rp kmsg.ProduceRequestTopicPartition, sp *kmsg.ProduceResponseTopicPartition) (*partition, int64, *kerr.Error) {
	sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
	t, p := b.lookupPartition(name, id, rp.Partition)
	if t == nil && id != ([16]byte{}) {
		return nil, 0, kerr.UnknownTopicID
	}
	if p == nil {
		return nil, 0, kerr.UnknownTopicOrPartition
	}
	if isInternalTopic(t.name) {
		return nil, 0, kerr.InvalidTopicException // Kafka: "Cannot append to internal topic"
	}
	if b.notLeader(t.name, rp.Partition) {
		return nil, 0, kerr.NotLeaderForPartition
	}
	b.mu.RLock()
	maxBytes := b.topicInt(t, "max.message.bytes")
	tsType, _ := b.topicConfig(t, "message.timestamp.type")
	b.mu.RUnlock()
	h, kerrv := validateBatch(rp.Records, maxBytes)
	if kerrv != nil {
		return nil, 0, kerrv
	}
	b.debugAppendDelay()
	batch := rp.Records
	if tsType == "LogAppendTime" {
		sp.LogAppendTime = b.now().UnixMilli()
		setLogAppendTime(batch, sp.LogAppendTime)
	}

	p.mu.Lock()
	if h.ProducerID >= 0 {
		dupBase, dup, err := p.checkSequence(h)
		if err != nil {
			p.mu.Unlock()
			return nil, 0, err
		}
		if dup {
			p.mu.Unlock()
			sp.BaseOffset = dupBase
			sp.LogStartOffset = p.log.LogStartOffset()
			// The original may not be durable yet; wait for it too.
			return p, dupBase + int64(h.LastOffsetDelta) + 1, nil
		}
	}
	base, err := p.log.Append(batch, p.leaderEpoch())
	if err == nil && h.ProducerID >= 0 {
		p.recordProducerBatch(h, base)
	}
	p.mu.Unlock()
	if err != nil {
		b.log.Error("append failed", "partition", p.String(), "err", err)
		if errors.Is(err, wal.ErrClosed) {
			return nil, 0, kerr.NotLeaderForPartition
		}
		return nil, 0, kerr.KafkaStorageError
	}
	p.wakeWaiters()
	b.ctr.producedBatches.Add(1)
	b.ctr.producedRecords.Add(uint64(h.RecordCount))
	b.afterAppend(p, int64(h.LastOffsetDelta)+1)
	sp.BaseOffset = base
	sp.LogStartOffset = p.log.LogStartOffset()
	return p, base + int64(h.LastOffsetDelta) + 1, nil
}
