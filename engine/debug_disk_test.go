//go:build chronikdebug

package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// rawProduce sends one batch of one record to topic-0 with acks and
// returns the partition's error code.
func rawProduce(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, acks int16, value string) int16 {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = engine.MakeTestBatch(engine.TestBatch{Values: [][]byte{[]byte(value)}, BaseTs: time.Now().UnixMilli()})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// rawFetch fetches topic-0 from offset 0 and returns the error code.
func rawFetch(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) int16 {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes, req.SessionEpoch = 11, -1, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// TestDebugFailedFsyncTakesThePartitionOfflineAndLosesNothingAcked: with
// the disk fault switched to fsync on a live broker, the next acks=-1
// produce gets KAFKA_STORAGE_ERROR, and from then on produce and fetch of
// that partition do too, also once the disk works again (the failed sync
// is never retried into a success). After a restart every record
// acknowledged before the fault is there, once, in order, and the
// partition takes writes again.
func TestDebugFailedFsyncTakesThePartitionOfflineAndLosesNothingAcked(t *testing.T) {
	tb := startBroker(t)
	ctx := ctxT(t, 60*time.Second)
	cl := tb.client(kgo.MaxVersions(kversion.V3_0_0())) // Produce and Fetch name their topics
	createTopic(t, cl, "disk", 1, nil)
	const acked = 20
	for i := range acked {
		if c := rawProduce(ctx, t, cl, "disk", -1, fmt.Sprint(i)); c != 0 {
			t.Fatalf("produce %d before the fault: %v", i, kerr.ErrorForCode(c))
		}
	}
	if err := tb.b.SetDiskFault("fsync", 0); err != nil {
		t.Fatal(err)
	}
	if c := rawProduce(ctx, t, cl, "disk", -1, "lost"); c != kerr.KafkaStorageError.Code {
		t.Fatalf("acks=-1 produce with failing fdatasync: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(c))
	}
	if err := tb.b.SetDiskFault("off", 0); err != nil {
		t.Fatal(err)
	}
	for _, acks := range []int16{-1, 1} {
		if c := rawProduce(ctx, t, cl, "disk", acks, "after"); c != kerr.KafkaStorageError.Code {
			t.Fatalf("acks=%d produce after the disk came back: %v, want KAFKA_STORAGE_ERROR (offline until restart)", acks, kerr.ErrorForCode(c))
		}
	}
	if c := rawFetch(ctx, t, cl, "disk"); c != kerr.KafkaStorageError.Code {
		t.Fatalf("fetch of the failed partition: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(c))
	}
	if !tb.b.StorageFailed() {
		t.Fatal("broker does not report its storage failed")
	}
	if _, _, n := tb.b.DiskFault(); n == 0 {
		t.Fatal("the fault injected nothing")
	}

	// Restart: the failed log is closed unclean (Close reports the error)
	// and recovered.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tb.srv.Stop(sctx)
	if err := tb.b.Close(); err == nil {
		t.Fatal("closing a broker whose log failed reported no error")
	}
	tb.srv, tb.b = nil, nil
	tb.start()
	cl = tb.client(kgo.MaxVersions(kversion.V3_0_0()), kgo.ConsumeTopics("disk"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if c := rawProduce(ctx, t, cl, "disk", -1, "restarted"); c != 0 {
		t.Fatalf("produce after the restart: %v", kerr.ErrorForCode(c))
	}
	var got []string
	for !containsValue(got, "restarted") {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i := range acked {
		if got[i] != fmt.Sprint(i) {
			t.Fatalf("after the restart, record %d is %q (all: %q)", i, got[i], got)
		}
	}
	if n := count(got, "restarted"); n != 1 {
		t.Fatalf("the record produced after the restart appears %d times: %q", n, got)
	}
}

func containsValue(vs []string, v string) bool { return count(vs, v) > 0 }

func count(vs []string, v string) int {
	n := 0
	for _, x := range vs {
		if x == v {
			n++
		}
	}
	return n
}

// TestDebugSlowDiskDelaysAcksButFailsNothing: slow adds its delay to
// each fdatasync; acks=-1 produces wait for it and succeed.
func TestDebugSlowDiskDelaysAcksButFailsNothing(t *testing.T) {
	tb := startBroker(t)
	ctx := ctxT(t, 30*time.Second)
	cl := tb.client(kgo.MaxVersions(kversion.V3_0_0()))
	createTopic(t, cl, "slowdisk", 1, nil)
	if c := rawProduce(ctx, t, cl, "slowdisk", -1, "warm"); c != 0 {
		t.Fatal(kerr.ErrorForCode(c))
	}
	if err := tb.b.SetDiskFault("slow", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 3 {
		if c := rawProduce(ctx, t, cl, "slowdisk", -1, fmt.Sprint(i)); c != 0 {
			t.Fatalf("acks=-1 on a slow disk: %v", kerr.ErrorForCode(c))
		}
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("3 acks=-1 produces, each behind a 100ms fdatasync, took %v", d)
	}
	if tb.b.StorageFailed() {
		t.Fatal("a slow disk counted as failed")
	}
	if err := tb.b.SetDiskFault("bogus", 0); err == nil {
		t.Fatal("unknown fault accepted")
	}
}
