package engine

import (
	"io"
	"log/slog"
	"testing"

	"github.com/chronik/chronik/wal/vfs/memfs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A fetch that meets a log closed under it (shutdown, topic deletion) sends
// the client back to metadata instead of reporting a storage error.
func TestFetchOfAClosedLogAnswersNotLeader(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = "/data"
	b, err := Open(cfg, memfs.New(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, kerrv := b.createTopicChecked("c", 1, -1, nil, false); kerrv != nil {
		t.Fatal(kerrv)
	}
	_, p := b.lookupPartition("c", [16]byte{}, 0)
	if err := p.log.Close(); err != nil {
		t.Fatal(err)
	}
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
