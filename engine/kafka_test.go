package engine_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// pinned returns a client that sends key at exactly version (kgo otherwise
// picks the highest version both sides support).
func pinned(tb *testBroker, key, version int16) *kgo.Client {
	v := kversion.Stable()
	v.SetMaxKeyVersion(key, version)
	return tb.client(kgo.MaxVersions(v))
}

func createTopic(t *testing.T, cl *kgo.Client, name string, parts int32, configs map[string]*string) {
	t.Helper()
	resp, err := kadm.NewClient(cl).CreateTopics(ctxT(t, 10*time.Second), parts, -1, configs, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp[name].Err; err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
}

// consumeAll reads n records from the start of topic.
func consumeAll(t *testing.T, tb *testBroker, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := tb.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := ctxT(t, 30*time.Second)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", len(out), n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch error: %v", err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func TestProduceConsumeRoundTripKeepsRecordsAndOrder(t *testing.T) {
	tb := startBroker(t)
	cl := tb.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, cl, "rt", 3, nil)
	const n = 3000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		r := &kgo.Record{
			Topic:     "rt",
			Partition: int32(i % 3),
			Key:       []byte(fmt.Sprintf("k%d", i)),
			Value:     []byte(fmt.Sprintf("v%06d", i)),
			Headers:   []kgo.RecordHeader{{Key: "h", Value: []byte{byte(i)}}},
		}
		cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
			if err != nil {
				errs <- err
			}
			wg.Done()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	recs := consumeAll(t, tb, "rt", n)
	if len(recs) != n {
		t.Fatalf("got %d records, want %d", len(recs), n)
	}
	next := map[int32]int64{}
	lastVal := map[int32]string{}
	for _, r := range recs {
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
		if string(r.Value) <= lastVal[r.Partition] {
			t.Fatalf("partition %d out of order: %s after %s", r.Partition, r.Value, lastVal[r.Partition])
		}
		lastVal[r.Partition] = string(r.Value)
		var i int
		fmt.Sscanf(string(r.Value), "v%06d", &i)
		if string(r.Key) != fmt.Sprintf("k%d", i) || len(r.Headers) != 1 || r.Headers[0].Value[0] != byte(i) {
			t.Fatalf("record %d mangled: key %q headers %v", i, r.Key, r.Headers)
		}
	}
}

func TestAllAcksModesStoreRecords(t *testing.T) {
	tb := startBroker(t)
	for _, acks := range []struct {
		name string
		opt  kgo.Acks
	}{{"none", kgo.NoAck()}, {"leader", kgo.LeaderAck()}, {"all", kgo.AllISRAcks()}} {
		t.Run(acks.name, func(t *testing.T) {
			topic := "acks-" + acks.name
			opts := []kgo.Opt{kgo.RequiredAcks(acks.opt), kgo.AllowAutoTopicCreation()}
			if acks.name != "all" {
				opts = append(opts, kgo.DisableIdempotentWrite())
			}
			cl := tb.client(opts...)
			for i := 0; i < 50; i++ {
				if err := cl.ProduceSync(ctxT(t, 10*time.Second), &kgo.Record{Topic: topic, Value: []byte{byte(i)}}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			recs := consumeAll(t, tb, topic, 50)
			for i, r := range recs {
				if r.Value[0] != byte(i) || r.Offset != int64(i) {
					t.Fatalf("record %d: value %v offset %d", i, r.Value, r.Offset)
				}
			}
		})
	}
}

// produceRaw sends one batch to topic/partition with the given acks.
func produceRaw(t *testing.T, tb *testBroker, topic string, partition int32, acks int16, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	cl := pinned(tb, 0, 12) // v12 names topics; v13 uses ids
	req.Acks, req.TimeoutMillis = acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

func listOffset(t *testing.T, cl *kgo.Client, topic string, ts int64) (int64, int64) {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("list offsets %d: %v", ts, kerr.ErrorForCode(p.ErrorCode))
	}
	return p.Offset, p.Timestamp
}

func TestProduceErrorCodesAndNothingStoredOnBadInput(t *testing.T) {
	tb := startBroker(t)
	cl := tb.client()
	createTopic(t, cl, "bad", 1, map[string]*string{"max.message.bytes": kadm.StringPtr("200")})
	good := engine.MakeTestBatch(engine.TestBatch{Values: [][]byte{[]byte("ok")}})
	corrupt := engine.MakeTestBatch(engine.TestBatch{Values: [][]byte{[]byte("x")}})
	corrupt[len(corrupt)-1] ^= 0x55
	badLen := engine.MakeTestBatch(engine.TestBatch{Values: [][]byte{[]byte("x")}})
	binary.BigEndian.PutUint32(badLen[8:], 4000)
	big := engine.MakeTestBatch(engine.TestBatch{Values: [][]byte{bytes.Repeat([]byte("z"), 300)}})
	for _, tc := range []struct {
		name      string
		topic     string
		partition int32
		acks      int16
		batch     []byte
		want      *kerr.Error
	}{
		{"bad crc", "bad", 0, -1, corrupt, kerr.CorruptMessage},
		{"bad length", "bad", 0, -1, badLen, kerr.CorruptMessage},
		{"too large", "bad", 0, -1, big, kerr.MessageTooLarge},
		{"unknown topic", "nope", 0, -1, good, kerr.UnknownTopicOrPartition},
		{"unknown partition", "bad", 7, -1, good, kerr.UnknownTopicOrPartition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := produceRaw(t, tb, tc.topic, tc.partition, tc.acks, append([]byte(nil), tc.batch...))
			if got := kerr.ErrorForCode(p.ErrorCode); got != error(tc.want) {
				t.Fatalf("error %v, want %v", got, tc.want)
			}
		})
	}
	// kgo rewrites Acks to its own setting, so acks=2 goes out raw.
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, 2, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "bad"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = append([]byte(nil), good...)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = 9
	if err := resp.ReadFrom(rawRequest(t, tb.addr, 0, 9, true, req.AppendTo(nil))[1:]); err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidRequiredAcks.Code {
		t.Fatalf("acks=2: %v, want INVALID_REQUIRED_ACKS", kerr.ErrorForCode(code))
	}
	if hw, _ := listOffset(t, cl, "bad", -1); hw != 0 {
		t.Fatalf("bad input stored records: high watermark %d", hw)
	}
	if p := produceRaw(t, tb, "bad", 0, -1, good); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("valid produce after bad ones: %+v", p)
	}
}

func initProducerID(t *testing.T, cl *kgo.Client) int64 {
	t.Helper()
	resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctxT(t, 5*time.Second), cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("init producer id: %v %v", err, resp)
	}
	return resp.ProducerID
}

func TestIdempotentRetryIsNotStoredTwiceEvenAcrossRestart(t *testing.T) {
	tb := startBroker(t)
	cl := tb.client()
	createTopic(t, cl, "idem", 1, nil)
	pid := initProducerID(t, cl)
	if pid2 := initProducerID(t, cl); pid2 == pid {
		t.Fatalf("two InitProducerID calls returned the same id %d", pid)
	}
	b0 := engine.MakeTestBatch(engine.TestBatch{Values: [][]byte{[]byte("a"), []byte("b")}, ProducerID: pid, Idempotent: true, BaseSeq: 0})
	b1 := engine.MakeTestBatch(engine.TestBatch{Values: [][]byte{[]byte("c")}, ProducerID: pid, Idempotent: true, BaseSeq: 2})
	send := func(b []byte) kmsg.ProduceResponseTopicPartition {
		return produceRaw(t, tb, "idem", 0, -1, append([]byte(nil), b...))
	}
	if p := send(b0); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("first batch: %+v", p)
	}
	if p := send(b1); p.ErrorCode != 0 || p.BaseOffset != 2 {
		t.Fatalf("second batch: %+v", p)
	}
	if p := send(b0); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("retried first batch: %+v, want offset 0 and no error", p)
	}
	gap := engine.MakeTestBatch(engine.TestBatch{Values: [][]byte{[]byte("x")}, ProducerID: pid, Idempotent: true, BaseSeq: 9})
	if p := send(gap); p.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	newer := engine.MakeTestBatch(engine.TestBatch{Values: [][]byte{[]byte("e1")}, ProducerID: pid, Idempotent: true, Epoch: 1, BaseSeq: 0})
	if p := send(newer); p.ErrorCode != 0 {
		t.Fatalf("epoch bump: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	older := engine.MakeTestBatch(engine.TestBatch{Values: [][]byte{[]byte("e0")}, ProducerID: pid, Idempotent: true, Epoch: 0, BaseSeq: 3})
	if p := send(older); p.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("fenced epoch: %v", kerr.ErrorForCode(p.ErrorCode))
	}

	tb.restart()
	cl = tb.client()
	if p := produceRaw(t, tb, "idem", 0, -1, append([]byte(nil), newer...)); p.ErrorCode != 0 || p.BaseOffset != 3 {
		t.Fatalf("retry across restart: %+v, want duplicate at offset 3", p)
	}
	if hw, _ := listOffset(t, cl, "idem", -1); hw != 4 {
		t.Fatalf("high watermark %d after restart and retry, want 4", hw)
	}
	if pid3 := initProducerID(t, cl); pid3 == pid {
		t.Fatalf("producer id %d reused after restart", pid3)
	}
}

func fetchOnce(t *testing.T, tb *testBroker, topic string, offset int64, partMax, respMax int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 0, respMax
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes = offset, partMax
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	// Pin v12 so the request names topics (v13+ would need ids).
	resp, err := req.RequestWith(ctxT(t, 10*time.Second), pinned(tb, 1, 12))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

func batchBases(t *testing.T, recs []byte) []int64 {
	t.Helper()
	var bases []int64
	for len(recs) >= 12 {
		size := 12 + int(binary.BigEndian.Uint32(recs[8:]))
		if size > len(recs) {
			break
		}
		bases = append(bases, int64(binary.BigEndian.Uint64(recs)))
		recs = recs[size:]
	}
	return bases
}

func TestFetchSemantics(t *testing.T) {
	tb := startBroker(t)
	cl := tb.client()
	createTopic(t, cl, "f", 1, nil)
	for i := 0; i < 4; i++ { // batches at 0, 3, 6, 9, each 3 records of 100 B
		b := engine.MakeTestBatch(engine.TestBatch{Values: [][]byte{bytes.Repeat([]byte{'a'}, 100), bytes.Repeat([]byte{'b'}, 100), bytes.Repeat([]byte{'c'}, 100)}})
		if p := produceRaw(t, tb, "f", 0, 1, b); p.ErrorCode != 0 {
			t.Fatal(kerr.ErrorForCode(p.ErrorCode))
		}
	}
	t.Run("offset inside a batch returns that whole batch", func(t *testing.T) {
		p := fetchOnce(t, tb, "f", 4, 1<<20, 1<<20)
		if got := batchBases(t, p.RecordBatches); len(got) != 3 || got[0] != 3 {
			t.Fatalf("batch bases %v, want [3 6 9] from offset 4", got)
		}
		if p.HighWatermark != 12 || p.LastStableOffset != 12 || p.LogStartOffset != 0 {
			t.Fatalf("hw %d lso %d lstart %d", p.HighWatermark, p.LastStableOffset, p.LogStartOffset)
		}
	})
	t.Run("oversize first batch still returned (KIP-74)", func(t *testing.T) {
		p := fetchOnce(t, tb, "f", 0, 10, 10)
		if got := batchBases(t, p.RecordBatches); len(got) != 1 || got[0] != 0 {
			t.Fatalf("batch bases %v, want exactly [0]", got)
		}
	})
	t.Run("partition max bytes bounds the rest", func(t *testing.T) {
		p := fetchOnce(t, tb, "f", 0, 800, 1<<20) // batches are ~390 bytes
		if got := batchBases(t, p.RecordBatches); len(got) != 2 {
			t.Fatalf("batch bases %v, want 2 batches within 800 bytes", got)
		}
	})
	t.Run("out of range", func(t *testing.T) {
		if p := fetchOnce(t, tb, "f", 13, 1<<20, 1<<20); p.ErrorCode != kerr.OffsetOutOfRange.Code {
			t.Fatalf("offset 13: %v", kerr.ErrorForCode(p.ErrorCode))
		}
		if p := fetchOnce(t, tb, "f", 12, 1<<20, 1<<20); p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
			t.Fatalf("offset at HW: %v, %d bytes", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
		}
	})
	t.Run("unknown topic", func(t *testing.T) {
		if p := fetchOnce(t, tb, "nope", 0, 1<<20, 1<<20); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("unknown topic: %v", kerr.ErrorForCode(p.ErrorCode))
		}
	})
}

func TestLongPollFetchWakesOnProduce(t *testing.T) {
	tb := startBroker(t)
	cl := tb.client()
	createTopic(t, cl, "lp", 1, nil)
	done := make(chan kmsg.FetchResponseTopicPartition, 1)
	fetcher := pinned(tb, 1, 12)
	go func() {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = 120_000, 1, 1<<20, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "lp"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(context.Background(), fetcher)
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		done <- resp.Topics[0].Partitions[0]
	}()
	time.Sleep(200 * time.Millisecond) // let the fetch park
	producer := tb.client()
	if err := producer.ProduceSync(ctxT(t, 5*time.Second), &kgo.Record{Topic: "lp", Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-done:
		if len(batchBases(t, p.RecordBatches)) != 1 {
			t.Fatalf("woken fetch returned %d bytes", len(p.RecordBatches))
		}
	case <-time.After(30 * time.Second): // a bound, far below the 120 s max wait
		t.Fatal("long-poll fetch was not woken by a produce")
	}
}

func TestListOffsetsEarliestLatestMaxAndByTimestamp(t *testing.T) {
	tb := startBroker(t)
	cl := tb.client()
	createTopic(t, cl, "lo", 1, nil)
	// offsets 0-2 at ts 1000,1010,1020; offsets 3-4 at ts 5000,5010.
	produceRaw(t, tb, "lo", 0, -1, engine.MakeTestBatch(engine.TestBatch{Values: [][]byte{{1}, {2}, {3}}, BaseTs: 1000, TsStep: 10}))
	produceRaw(t, tb, "lo", 0, -1, engine.MakeTestBatch(engine.TestBatch{Values: [][]byte{{4}, {5}}, BaseTs: 5000, TsStep: 10}))
	produceRaw(t, tb, "lo", 0, -1, engine.MakeTestBatch(engine.TestBatch{Values: [][]byte{{6}}, BaseTs: 2000}))
	for _, tc := range []struct {
		ts, off, rts int64
	}{
		{-2, 0, -1}, {-1, 6, -1}, {-3, 4, 5010},
		{0, 0, 1000}, {1010, 1, 1010}, {1011, 2, 1020}, {1500, 3, 5000}, {5010, 4, 5010}, {5011, -1, -1},
	} {
		off, rts := listOffset(t, cl, "lo", tc.ts)
		if off != tc.off || (tc.rts != -1 && rts != tc.rts) {
			t.Errorf("ListOffsets(%d) = (%d, %d), want (%d, %d)", tc.ts, off, rts, tc.off, tc.rts)
		}
	}
}

func TestMetadataAutoCreateAndTopicSelection(t *testing.T) {
	tb := startBroker(t, func(c *engine.Config) { c.NumPartitions = 2 })
	meta := func(version int16, topics []string, nullTopics, allowAuto bool) *kmsg.MetadataResponse {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = version
		req.AllowAutoTopicCreation = allowAuto
		if !nullTopics {
			req.Topics = []kmsg.MetadataRequestTopic{}
			for _, name := range topics {
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr(name)
				req.Topics = append(req.Topics, rt)
			}
		}
		resp, err := req.RequestWith(ctxT(t, 5*time.Second), pinned(tb, 3, version))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	r := meta(12, []string{"auto1"}, false, true)
	if r.Topics[0].ErrorCode != 0 || len(r.Topics[0].Partitions) != 2 || r.Topics[0].TopicID == ([16]byte{}) {
		t.Fatalf("auto-create: %+v", r.Topics[0])
	}
	if len(r.Brokers) != 1 || r.Brokers[0].Host != "127.0.0.1" || r.ControllerID != r.Brokers[0].NodeID {
		t.Fatalf("brokers %+v controller %d", r.Brokers, r.ControllerID)
	}
	if r := meta(12, []string{"noauto"}, false, false); r.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("no auto-create: %v", kerr.ErrorForCode(r.Topics[0].ErrorCode))
	}
	if r := meta(1, []string{"auto-v1"}, false, false); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("v1 must auto-create: %v", kerr.ErrorForCode(r.Topics[0].ErrorCode))
	}
	if r := meta(12, []string{"bad/name"}, false, true); r.Topics[0].ErrorCode != kerr.InvalidTopicException.Code {
		t.Fatalf("invalid name: %v", kerr.ErrorForCode(r.Topics[0].ErrorCode))
	}
	if r := meta(12, nil, true, false); len(r.Topics) != 2 {
		t.Fatalf("null topics must list all 2 topics, got %d", len(r.Topics))
	}
	if r := meta(12, []string{}, false, false); len(r.Topics) != 0 {
		t.Fatalf("empty topics must list none, got %d", len(r.Topics))
	}
	if r := meta(0, []string{}, false, false); len(r.Topics) != 2 {
		t.Fatalf("v0 empty topics must list all, got %d", len(r.Topics))
	}
}

// rawRequest writes one request frame with header v1/v2 and returns the
// response body after the correlation id (and no tagged fields: ApiVersions).
func rawRequest(t *testing.T, addr string, key, version int16, flexible bool, body []byte) []byte {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var hdr []byte
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(key))
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(version))
	hdr = binary.BigEndian.AppendUint32(hdr, 77)
	hdr = binary.BigEndian.AppendUint16(hdr, 4)
	hdr = append(hdr, "test"...)
	if flexible {
		hdr = append(hdr, 0)
	}
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(hdr)+len(body)))
	frame = append(append(frame, hdr...), body...)
	if _, err := conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		t.Fatal(err)
	}
	resp := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(conn, resp); err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint32(resp) != 77 {
		t.Fatalf("correlation id %d", binary.BigEndian.Uint32(resp))
	}
	return resp[4:]
}

func TestApiVersionsAdvertisesAndAnswersUnknownVersionPerKIP511(t *testing.T) {
	tb := startBroker(t)
	// v3 (flexible request header v2, response header v0).
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "chronik-test", "1.0"
	body := rawRequest(t, tb.addr, 18, 3, true, req.AppendTo(nil))
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 3
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decode v3 response: %v", err)
	}
	keys := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		keys[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	for _, want := range []int16{0, 1, 2, 3, 18, 19, 22, 23} {
		if _, ok := keys[want]; !ok {
			t.Errorf("ApiVersions does not list key %d (%s)", want, kmsg.NameForKey(want))
		}
	}
	for _, absent := range []int16{24, 25, 26, 68} {
		if _, ok := keys[absent]; ok {
			t.Errorf("ApiVersions advertises unsupported key %d (%s)", absent, kmsg.NameForKey(absent))
		}
	}
	// A future version: v0 body with UNSUPPORTED_VERSION and the ranges.
	body = rawRequest(t, tb.addr, 18, 99, true, nil)
	old := kmsg.NewPtrApiVersionsResponse()
	old.Version = 0
	if err := old.ReadFrom(body); err != nil {
		t.Fatalf("decode v0 fallback: %v", err)
	}
	if old.ErrorCode != kerr.UnsupportedVersion.Code || len(old.ApiKeys) != len(resp.ApiKeys) {
		t.Fatalf("KIP-511 answer: error %d, %d keys", old.ErrorCode, len(old.ApiKeys))
	}
}

func TestOffsetForLeaderEpochAnswersEndOfEpoch(t *testing.T) {
	tb := startBroker(t)
	cl := tb.client()
	createTopic(t, cl, "ofle", 1, nil)
	produceRaw(t, tb, "ofle", 0, -1, engine.MakeTestBatch(engine.TestBatch{Values: [][]byte{{1}, {2}}}))
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -1
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "ofle"
	for _, e := range []int32{0, 5} {
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.LeaderEpoch, rp.CurrentLeaderEpoch = 0, e
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t, 5*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	ps := resp.Topics[0].Partitions
	if ps[0].ErrorCode != 0 || ps[0].LeaderEpoch != 0 || ps[0].EndOffset != 2 {
		t.Fatalf("epoch 0: %+v", ps[0])
	}
	if ps[1].ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("current epoch 5: %v", kerr.ErrorForCode(ps[1].ErrorCode))
	}
}

func TestCleanRestartKeepsRecordsOffsetsAndTopics(t *testing.T) {
	tb := startBroker(t)
	cl := tb.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, cl, "keep", 2, map[string]*string{"retention.ms": kadm.StringPtr("86400000")})
	for i := 0; i < 200; i++ {
		if err := cl.ProduceSync(ctxT(t, 5*time.Second), &kgo.Record{Topic: "keep", Partition: int32(i % 2), Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	before := consumeAll(t, tb, "keep", 200)
	tb.restart()
	after := consumeAll(t, tb, "keep", 200)
	key := func(r *kgo.Record) string { return fmt.Sprintf("%d/%d/%s", r.Partition, r.Offset, r.Value) }
	seen := map[string]bool{}
	for _, r := range before {
		seen[key(r)] = true
	}
	for _, r := range after {
		if !seen[key(r)] {
			t.Fatalf("record %s changed across restart", key(r))
		}
	}
	cl = tb.client()
	rs := cl.ProduceSync(ctxT(t, 5*time.Second), &kgo.Record{Topic: "keep", Partition: 0, Value: []byte("next")})
	if err := rs.FirstErr(); err != nil || rs[0].Record.Offset != 100 {
		t.Fatalf("produce after restart: offset %d err %v", rs[0].Record.Offset, err)
	}
	dc, err := kadm.NewClient(cl).DescribeTopicConfigs(ctxT(t, 5*time.Second), "keep")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range dc[0].Configs {
		if c.Key == "retention.ms" && c.Value != nil && *c.Value == "86400000" {
			found = true
		}
	}
	if !found {
		t.Fatalf("topic config lost across restart: %+v", dc[0].Configs)
	}
}
