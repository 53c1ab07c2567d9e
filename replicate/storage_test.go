package replicate

import (
	"encoding/binary"
	"syscall"
	"testing"

	"github.com/chronik/chronik/wal"
	"github.com/chronik/chronik/wal/vfs/memfs"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// replicaBatch is one valid v2 batch of one empty record at base, written
// under leader epoch epoch, as a leader sends it.
func replicaBatch(base int64, epoch int32) []byte {
	rec := []byte{6, 0, 0, 0, 1, 1, 0} // length 6: attrs, deltas, null key and value, no headers
	b := make([]byte, wal.BatchHeaderSize, wal.BatchHeaderSize+len(rec))
	be := binary.BigEndian
	be.PutUint64(b[0:], uint64(base))
	be.PutUint32(b[8:], uint32(wal.BatchHeaderSize-12+len(rec)))
	be.PutUint32(b[12:], uint32(epoch))
	b[16] = 2
	be.PutUint64(b[27:], 1)
	be.PutUint64(b[35:], 1)
	be.PutUint64(b[43:], ^uint64(0))
	be.PutUint16(b[51:], ^uint16(0))
	be.PutUint32(b[53:], ^uint32(0))
	be.PutUint32(b[57:], 1)
	b = append(b, rec...)
	be.PutUint32(b[17:], wal.CRC32C(b[21:]))
	return b
}

func leaderResponse(tg Target, records []byte) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	rt := kmsg.NewFetchResponseTopic()
	rt.TopicID = tg.TopicID
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.Partition, rp.HighWatermark, rp.LogStartOffset, rp.RecordBatches = tg.Partition, 0, 0, records
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	return resp
}

// fetchOffsets returns the fetch offset each partition of the follower's
// next request reports (absent: not fetched).
func fetchOffsets(f *fetcher) map[int32]int64 {
	req, _, _ := f.request()
	got := map[int32]int64{}
	if req == nil {
		return got
	}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			got[rp.Partition] = rp.FetchOffset
		}
	}
	return got
}

// TestAFailedFsyncIsNeverReportedToTheLeader: a follower reports an offset
// as its fetch offset only once everything below it is fsync'd, and the
// leader counts it toward the high watermark (acks=-1). When the fsync of
// appended records fails, the next fetch must not report the log end
// (which includes them): the partition is not fetched at all any more,
// however the disk behaves afterwards (a failed fdatasync is not retried
// into a success). Found by reading the fetch loop while adding the disk
// faults of issue 14: it reported LogEndOffset after a failed sync.
func TestAFailedFsyncIsNeverReportedToTheLeader(t *testing.T) {
	fsys := memfs.New()
	fsys.MkdirAll("/data", 0o755)
	tg := memTarget(t, fsys, 0)
	m := NewManager(Options{Self: 2, Fsync: true})
	f := &fetcher{m: m, leader: 1, parts: map[tpKey]*partState{tg.key(): {t: tg}}, changed: make(chan struct{}, 1)}
	sent := map[tpKey]Target{tg.key(): tg}

	f.apply(nil, leaderResponse(tg, replicaBatch(0, 1)), sent)
	if got := fetchOffsets(f); got[0] != 1 {
		t.Fatalf("after a durable append of offset 0: fetch offsets %v, want partition 0 at 1", got)
	}

	fsys.InjectError(memfs.OpSync, "/data/t-0", syscall.EIO)
	f.apply(nil, leaderResponse(tg, replicaBatch(1, 1)), sent)
	l := tg.Replica.Log()
	if l.LogEndOffset() != 2 || l.DurableOffset() != 1 {
		t.Fatalf("LEO %d durable %d, want 2 and 1 (the pwrite worked, the fsync did not)", l.LogEndOffset(), l.DurableOffset())
	}
	if got, ok := fetchOffsets(f)[0]; ok {
		t.Fatalf("after a failed fsync the follower reports fetch offset %d for the partition (durable: 1)", got)
	}
	fsys.ClearErrors()
	if got, ok := fetchOffsets(f)[0]; ok {
		t.Fatalf("once the disk answers again the failed log is reported at %d: a failed fsync must stay failed", got)
	}
}
