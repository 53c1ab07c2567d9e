package engine

import (
	"errors"
	"time"

	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch: v4-16
//
// Behaviour:
//   - Returns stored batches byte-exact, starting with the batch that
//     contains the fetch offset (clients skip records before it), ending at
//     the high watermark (read_uncommitted) or last stable offset
//     (read_committed; equal without transactions).
//   - Per-partition and response MaxBytes are honoured, except that the
//     first batch of the response is always whole (KIP-74).
//   - OFFSET_OUT_OF_RANGE below the log start offset or above the log end.
//   - Long poll: answered once MinBytes are available or after MaxWaitMillis;
//     any partition error answers at once.
//   - Fetch sessions (KIP-227) are declined: the response carries session id
//     0 and clients keep sending full fetches. A request naming a session id
//     gets FETCH_SESSION_ID_NOT_FOUND.
//   - CurrentLeaderEpoch (v9+) fences: older -> FENCED_LEADER_EPOCH, newer ->
//     UNKNOWN_LEADER_EPOCH.
//
// Version notes: v4 isolation level, LSO; v5 log start offset; v7 sessions;
// v9 current leader epoch; v11 rack / preferred read replica; v12 flexible;
// v13 topic ids (UNKNOWN_TOPIC_ID).

func init() { regKey(1, 4, 16, handleFetch) }

func handleFetch(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.FetchRequest)
	b.ctr.fetchRequests.Add(1)
	if req.Version >= 7 && req.SessionID != 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp, nil
	}
	if req.Version >= 7 && req.SessionEpoch != 0 && req.SessionEpoch != -1 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
		return resp, nil
	}
	resp, n, errored := b.fetchOnce(req)
	if errored || n >= int(req.MinBytes) || req.MaxWaitMillis <= 0 {
		return resp, nil
	}
	resp.ReleaseBody()
	b.parkFetch(req, c.respond)
	return nil, nil
}

// parkFetch waits for data on any requested partition, answering once MinBytes
// are there or MaxWaitMillis passed.
func (b *Broker) parkFetch(req *kmsg.FetchRequest, respond func(kmsg.Response)) {
	w := &fetchWaiter{notify: make(chan struct{}, 1)}
	var parts []*partition
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			if _, p := b.lookupPartition(rt.Topic, fetchTopicID(req, rt), rp.Partition); p != nil {
				p.addWaiter(w)
				parts = append(parts, p)
			}
		}
	}
	go func() {
		defer func() {
			for _, p := range parts {
				p.removeWaiter(w)
			}
		}()
		timer := time.NewTimer(time.Duration(req.MaxWaitMillis) * time.Millisecond)
		defer timer.Stop()
		for {
			select {
			case <-w.notify:
				resp, n, errored := b.fetchOnce(req)
				if errored || n >= int(req.MinBytes) {
					respond(resp)
					return
				}
				resp.ReleaseBody()
			case <-timer.C:
				resp, _, _ := b.fetchOnce(req)
				respond(resp)
				return
			case <-b.closed:
				resp, _, _ := b.fetchOnce(req)
				respond(resp)
				return
			}
		}
	}()
}

func fetchTopicID(req *kmsg.FetchRequest, rt kmsg.FetchRequestTopic) [16]byte {
	if req.Version >= 13 {
		return rt.TopicID
	}
	return [16]byte{}
}

// fetchOnce reads every requested partition once. It returns the response
// (encoded; records borrowed from the logs until ReleaseBody), the record
// bytes in it, and whether any partition has an error.
func (b *Broker) fetchOnce(req *kmsg.FetchRequest) (*fetchResponse, int, bool) {
	resp := newFetchResponse(req.Version, len(req.Topics))
	remaining := int64(req.MaxBytes)
	if remaining <= 0 {
		remaining = 1<<31 - 1
	}
	total, errored := 0, false
	for i := range req.Topics {
		rt := &req.Topics[i]
		id := fetchTopicID(req, *rt)
		resp.beginTopic(rt.Topic, rt.TopicID, len(rt.Partitions))
		for j := range rt.Partitions {
			v := resp.nextView()
			sp := b.fetchPartition(req, rt.Topic, id, &rt.Partitions[j], v, remaining, total == 0)
			n := int(v.Len)
			resp.addPartition(sp, n > 0)
			total += n
			remaining -= int64(n)
			errored = errored || sp.errCode != 0
		}
		resp.endTopic()
	}
	resp.finish()
	b.debugFetchCost(total)
	return resp, total, errored
}

// fetchPartition answers one partition, reading its records into v (left
// empty on error or when nothing fits). first says no records are in the
// response yet, so an oversize first batch may be returned whole (KIP-74).
func (b *Broker) fetchPartition(req *kmsg.FetchRequest, name string, id [16]byte, rp *kmsg.FetchRequestTopicPartition, v *wal.View, remaining int64, first bool) fetchPart {
	sp := fetchPart{partition: rp.Partition, hw: -1, lastStable: -1, logStart: -1}
	t, p := b.lookupPartition(name, id, rp.Partition)
	switch {
	case t == nil && id != ([16]byte{}):
		sp.errCode = kerr.UnknownTopicID.Code
		return sp
	case p == nil:
		sp.errCode = kerr.UnknownTopicOrPartition.Code
		return sp
	case b.notLeader(t.name, rp.Partition):
		sp.errCode = kerr.NotLeaderForPartition.Code
		return sp
	case req.Version >= 9 && rp.CurrentLeaderEpoch >= 0 && rp.CurrentLeaderEpoch < p.leaderEpoch():
		sp.errCode = kerr.FencedLeaderEpoch.Code
		return sp
	case req.Version >= 9 && rp.CurrentLeaderEpoch > p.leaderEpoch():
		sp.errCode = kerr.UnknownLeaderEpoch.Code
		return sp
	}
	hw := p.highWatermark()
	sp.hw, sp.lastStable = hw, hw
	sp.logStart = p.log.LogStartOffset()
	if rp.FetchOffset < sp.logStart || rp.FetchOffset > p.log.LogEndOffset() {
		sp.errCode = kerr.OffsetOutOfRange.Code
		return sp
	}
	limit := min(int64(rp.PartitionMaxBytes), remaining)
	if limit <= 0 && !first {
		return sp
	}
	err := p.log.ReadView(rp.FetchOffset, int32(max(limit, 0)), hw, v)
	switch {
	case errors.Is(err, wal.ErrOffsetOutOfRange):
		v.Release()
		sp.errCode = kerr.OffsetOutOfRange.Code
	case errors.Is(err, wal.ErrClosed):
		// Shutdown or topic deletion closed the log under this read; the
		// client should look up the partition again, as after a move.
		v.Release()
		sp.errCode = kerr.NotLeaderForPartition.Code
	case err != nil:
		v.Release()
		b.log.Error("fetch read failed", "partition", p.String(), "offset", rp.FetchOffset, "err", err)
		sp.errCode = kerr.KafkaStorageError.Code
	case v.Len > limit && !first:
		v.Release() // an oversize batch goes out only as the response's first
	}
	return sp
}
