package engine

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/chronik/chronik/wal/vfs/memfs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerWithClosedLog opens a broker logging to w with topic "c" whose one
// partition's log is closed under it, as shutdown or deletion leave it for
// a request in flight. It is closed at cleanup.
func brokerWithClosedLog(t *testing.T, w io.Writer) *Broker {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = "/data"
	b, err := Open(cfg, memfs.New(), slog.New(slog.NewTextHandler(w, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if _, kerrv := b.createTopicChecked("c", 1, -1, nil, false); kerrv != nil {
		t.Fatal(kerrv)
	}
	_, p := b.lookupPartition("c", [16]byte{}, 0)
	if err := p.Log().Close(); err != nil {
		t.Fatal(err)
	}
	return b
}

// A fetch that meets a log closed under it (shutdown, topic deletion) sends
// the client back to metadata instead of reporting a storage error.
func TestFetchOfAClosedLogAnswersNotLeader(t *testing.T) {
	b := brokerWithClosedLog(t, io.Discard)
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxBytes, req.SessionEpoch = 12, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "c"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	got := make(chan kmsg.Response, 1)
	if err := b.Handle(&Request{Key: 1, Version: 12, Body: req.AppendTo(nil)}, func(r kmsg.Response) { got <- r }); err != nil {
		t.Fatal(err)
	}
	resp := decodeFetchResponse(t, <-got, 12)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("fetch of a closed log: %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(code))
	}
}

// decodeFetchResponse re-reads a fetch response through kmsg, whatever type
// the handler answered with, and releases its borrowed views.
func decodeFetchResponse(t *testing.T, r kmsg.Response, version int16) *kmsg.FetchResponse {
	t.Helper()
	body := r.AppendTo(nil)
	if rel, ok := r.(interface{ ReleaseBody() }); ok {
		rel.ReleaseBody()
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = version
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decode fetch response: %v", err)
	}
	return resp
}

// lockedBuffer is a log sink safe for the broker's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A produce that meets a log closed under it (shutdown, topic deletion)
// answers NOT_LEADER_OR_FOLLOWER without logging an ERROR: nothing failed
// on this broker, the client just has to look the partition up again.
func TestProduceToAClosedLogAnswersNotLeaderWithoutAnError(t *testing.T) {
	var logs lockedBuffer
	b := brokerWithClosedLog(t, &logs)
	resp := asProduceResponse(t, handleSync(t, b, produceReq("c", 1, map[int32][]byte{0: makeBatch(testBatch{values: [][]byte{[]byte("v")}})})))
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce to a closed log: %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(code))
	}
	if out := logs.String(); strings.Contains(out, "level=ERROR") {
		t.Fatalf("a produce racing a close logged an error:\n%s", out)
	}
}
