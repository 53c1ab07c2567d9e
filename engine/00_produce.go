package engine

import (
	"fmt"
	"github.com/chronik/chronik/engine/partition"
	"reflect"
	"time"

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
//     flush.policy=interval; a partition still waiting after the request's
//     timeout_ms (30 s when it is <= 0) answers REQUEST_TIMED_OUT. Other
//     acks: INVALID_REQUIRED_ACKS.
//
// Version notes: v5 LogStartOffset; v8 per-record errors and ErrorMessage;
// v9 flexible; v13 topic ids instead of names (KIP-516).
//
// Hot path: the request is decoded by hand (produce_req.go) and answered
// with a pooled, hand-framed response (produce_resp.go); topic configs the
// path needs are parsed once per config change (produceConfigOf). In
// steady state a request allocates nothing here (BenchmarkProduce).

func init() { regRawKey(0, 3, 13, handleProduce) }

// handleProduce serves one Produce request (raw: it decodes the body).
func handleProduce(b *Broker, r *Request, respond func(kmsg.Response)) error {
	c := getProduceCall()
	c.body = r.BodyOwner
	if err := c.req.decode(r.Version, r.Body); err != nil {
		c.ReleaseBody()
		return fmt.Errorf("decode Produce v%d: %w", r.Version, err)
	}
	b.ctr.produceRequests.Add(1)
	c.respond = respond
	c.resetResults()
	acks := c.req.acks
	c.pending.Store(1) // the handler's own count, dropped below
	for ti := range c.req.topics {
		b.produceTopic(c, ti)
	}
	c.runWaiters()
	if acks == 0 {
		c.ReleaseBody()
		respond(nil)
		return nil
	}
	if c.nWaits > 0 {
		c.armTimeout(produceTimeout(c.req.timeoutMillis))
	}
	c.done()
	return nil
}

// produceTopic appends every partition of request topic ti; for acks=-1
// each written partition waits until its batch is committed (durable here
// unless flush.policy=interval, and on every ISR member).
func (b *Broker) produceTopic(c *produceCall, ti int) {
	t := &c.req.topics[ti]
	acksOK := c.req.acks == -1 || c.req.acks == 0 || c.req.acks == 1
	for i := t.first; i < t.first+t.n; i++ {
		res := &c.results[i]
		if !acksOK {
			res.errCode, res.logAppendTime, res.logStartOffs = kerr.InvalidRequiredAcks.Code, -1, -1
			continue
		}
		var id [16]byte
		if c.req.version >= 13 {
			id = t.id
		}
		p, through, minISR, appended, err := b.produceOne(t.name, id, c.req.acks, c.req.parts[i], res)
		if appended {
			c.appendedTo = append(c.appendedTo, p)
		}
		if err != nil {
			b.ctr.produceErrors.Add(1)
			res.errCode = err.Code
			if c.req.version >= 8 {
				res.errMsg, res.hasMsg = err.Message, true
			}
			continue
		}
		if c.req.acks == -1 && through > 0 {
			c.pending.Add(1)
			c.refs.Add(1) // the wait's, until its callback
			p.AwaitCommit(through, minISR, b.cfg.FlushPolicy == "ack", c.addWait(i).done)
		}
	}
}

// defaultProduceTimeout bounds an acks=-1 wait when the request's
// timeout_ms is 0 or negative: Kafka clients' default request.timeout.ms.
const defaultProduceTimeout = 30 * time.Second

// produceTimeout is how long an acks=-1 request may wait for its batches
// to be durable before the partitions still waiting answer
// REQUEST_TIMED_OUT (the outcome of those writes is then unknown to the
// client; an idempotent retry is answered from the duplicate window).
func produceTimeout(ms int32) time.Duration {
	if ms <= 0 {
		return defaultProduceTimeout
	}
	return time.Duration(ms) * time.Millisecond
}

// produceConfig is what the produce path reads of a topic's configs,
// parsed once: it is valid while the topic's overrides and the dynamic
// broker configs are the same maps (both are replaced, never changed in
// place, once the broker runs).
type produceConfig struct {
	topicConfigs, dynamic map[string]string
	maxMessageBytes       int64
	logAppendTime         bool
	minInsync             int // min.insync.replicas
}

// produceConfigOf returns t's produce configs. Caller holds b.mu (read).
func (b *Broker) produceConfigOf(t *topic) *produceConfig {
	pc := t.produceCfg.Load()
	if pc != nil && sameMap(pc.topicConfigs, t.configs) && sameMap(pc.dynamic, b.dynamic) {
		return pc
	}
	tsType, _ := b.topicConfig(t, "message.timestamp.type")
	pc = &produceConfig{
		topicConfigs:    t.configs,
		dynamic:         b.dynamic,
		maxMessageBytes: b.topicInt(t, "max.message.bytes"),
		logAppendTime:   tsType == "LogAppendTime",
		minInsync:       int(b.topicInt(t, "min.insync.replicas")),
	}
	t.produceCfg.Store(pc)
	return pc
}

// sameMap reports whether a and b are the same map (not equal contents).
func sameMap(a, b map[string]string) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// lookupProducePartition is lookupPartition for a name that is a slice of
// the request (the map lookup converts it without allocating), and the
// topic's produce configs.
// inRange reports whether p exists (even with no replica here).
func (b *Broker) lookupProducePartition(name []byte, id [16]byte, p int32) (t *topic, _ *partition.Partition, _ *produceConfig, inRange bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if id != ([16]byte{}) {
		t = b.topicIDs[id]
	} else {
		t = b.topics[string(name)]
	}
	if t == nil {
		return nil, nil, nil, false
	}
	pc := b.produceConfigOf(t)
	if p < 0 || int(p) >= len(t.partitions) {
		return t, nil, pc, false
	}
	return t, t.partitions[p], pc, true
}

// produceOne validates and appends one partition's batch, filling res. It
// returns the offset an acks=-1 answer waits for (0 when nothing new was
// written), the topic's min.insync.replicas, and whether the batch was
// appended (the caller then wakes the partition's parked fetches).
func (b *Broker) produceOne(name []byte, id [16]byte, acks int16, rp producePartReq, res *produceResult) (_ *partition.Partition, through int64, minISR int, appended bool, _ *kerr.Error) {
	res.baseOffset, res.logAppendTime, res.logStartOffs = -1, -1, -1
	t, p, pc, inRange := b.lookupProducePartition(name, id, rp.partition)
	switch {
	case t == nil && id != ([16]byte{}):
		return nil, 0, 0, false, kerr.UnknownTopicID
	case !inRange:
		return nil, 0, 0, false, kerr.UnknownTopicOrPartition
	case p == nil:
		return nil, 0, 0, false, kerr.NotLeaderForPartition // no replica here
	case isInternalTopic(t.name):
		return nil, 0, 0, false, kerr.InvalidTopicException // Kafka: "Cannot append to internal topic"
	}
	h, kerrv := validateBatch(rp.records, pc.maxMessageBytes)
	if kerrv != nil {
		return nil, 0, 0, false, kerrv
	}
	if acks == -1 {
		minISR = pc.minInsync
	}
	b.debugAppendCost(len(rp.records))
	batch := rp.records
	if pc.logAppendTime {
		res.logAppendTime = b.now().UnixMilli()
		setLogAppendTime(batch, res.logAppendTime)
	}
	base, dup, err := p.AppendProduced(h, batch, minISR)
	if err != nil {
		return nil, 0, 0, false, err
	}
	appended = !dup
	res.baseOffset = base
	res.logStartOffs = p.Log().LogStartOffset()
	if !dup {
		b.ctr.producedBatches.Add(1)
		b.ctr.producedRecords.Add(uint64(h.RecordCount))
		b.afterAppend(p, int64(h.LastOffsetDelta)+1)
	}
	// A duplicate's original may not be committed yet; wait for it too.
	return p, base + int64(h.LastOffsetDelta) + 1, minISR, appended, nil
}
