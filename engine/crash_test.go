package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chronik/chronik/wal"
	"github.com/chronik/chronik/wal/vfs/memfs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func openMemBroker(t *testing.T, fsys wal.FS, mutate ...func(*Config)) *Broker {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = "/data"
	cfg.SegmentBytes = 4096
	cfg.FlushWorkers = 3
	for _, m := range mutate {
		m(&cfg)
	}
	b, err := Open(cfg, fsys, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	return b
}

// produceReq encodes a Produce v9 request of one batch per listed partition.
func produceReq(topic string, acks int16, parts map[int32][]byte) *Request {
	return produceReqTimeout(topic, acks, 30000, parts)
}

// produceReqTimeout is produceReq with the request's timeout_ms.
func produceReqTimeout(topic string, acks int16, timeoutMs int32, parts map[int32][]byte) *Request {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, acks, timeoutMs
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	for p, batch := range parts {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, batch
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return &Request{Key: 0, Version: 9, Body: req.AppendTo(nil)}
}

// asProduceResponse decodes a Produce handler's response (a pooled,
// hand-framed produceCall) with kmsg.
func asProduceResponse(t testing.TB, r kmsg.Response) *kmsg.ProduceResponse {
	t.Helper()
	resp, err := decodeProduceResponse(r)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func decodeProduceResponse(r kmsg.Response) (*kmsg.ProduceResponse, error) {
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = r.GetVersion()
	if err := resp.ReadFrom(r.AppendTo(nil)); err != nil {
		return nil, fmt.Errorf("decode produce response: %w", err)
	}
	return resp, nil
}

// handleSync calls Handle and waits for the response.
func handleSync(t *testing.T, b *Broker, r *Request) kmsg.Response {
	t.Helper()
	ch := make(chan kmsg.Response, 1)
	if err := b.Handle(r, func(resp kmsg.Response) { ch <- resp }); err != nil {
		t.Fatalf("handle: %v", err)
	}
	select {
	case resp := <-ch:
		return resp
	case <-time.After(10 * time.Second):
		t.Fatal("no response in 10s")
		return nil
	}
}

// fetchAll fetches partition p from offset 0 to its high watermark through
// the Fetch handler and returns the record bytes and the high watermark.
func fetchAll(t *testing.T, b *Broker, topic string, p int32) ([]byte, int64) {
	t.Helper()
	var out []byte
	off, hw := int64(0), int64(-1)
	for hw < 0 || off < hw {
		sp := fetchAt(t, b, topic, p, off)
		if sp.ErrorCode != 0 {
			t.Fatalf("fetch %s-%d at %d: %v", topic, p, off, kerr.ErrorForCode(sp.ErrorCode))
		}
		hw = sp.HighWatermark
		if len(sp.RecordBatches) == 0 {
			break
		}
		out = append(out, sp.RecordBatches...)
		for len(sp.RecordBatches) > 0 {
			h, err := wal.ParseBatchHeader(sp.RecordBatches)
			if err != nil {
				t.Fatal(err)
			}
			off = h.NextOffset()
			sp.RecordBatches = sp.RecordBatches[h.Size():]
		}
	}
	return out, hw
}

// fetchAt is one Fetch v12 of topic-p from off, as the client decodes it.
func fetchAt(t *testing.T, b *Broker, topic string, p int32, off int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxBytes = 12, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := handleSync(t, b, &Request{Key: 1, Version: 12, Body: req.AppendTo(nil)}).(*fetchResponse)
	dec := kmsg.NewPtrFetchResponse()
	dec.Version = 12
	if err := dec.ReadFrom(resp.AppendTo(nil)); err != nil {
		t.Fatal(err)
	}
	resp.ReleaseBody()
	return dec.Topics[0].Partitions[0]
}

// TestAckedProducesSurviveCrashesThroughTheEngine: many rounds of a
// simulated power cut (torn unsynced tails) while producers send acks=-1
// requests spanning several partitions. After each restart every
// acknowledged batch is served byte-exact by Fetch, offsets are dense
// from 0 to the high watermark, and nothing else is served.
func TestAckedProducesSurviveCrashesThroughTheEngine(t *testing.T) {
	rounds := crashRounds(t, 12)
	if testing.Short() {
		rounds = 4
	}
	for round := range rounds {
		rng := rand.New(rand.NewPCG(uint64(round), 99))
		engineCrashRound(t, rng)
	}
}

const crashParts = 8

type ackedBatch struct {
	p     int32
	bytes []byte // as stored: base offset and leader epoch stamped
}

func engineCrashRound(t *testing.T, rng *rand.Rand) {
	fsys := memfs.New()
	// Recovery points and snapshots are checkpointed while the producers
	// run, so the crash lands between checkpoints.
	b := openMemBroker(t, fsys, func(c *Config) { c.RecoveryCheckpointMs, c.RecoveryCheckpointMinBytes = 1+rng.Int64N(5), 0 })
	if _, kerrv := b.createTopicChecked("crash", crashParts, -1, nil, false); kerrv != nil {
		t.Fatal(kerrv)
	}
	var mu sync.Mutex
	var acked []ackedBatch
	crashed := false
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Go(func() { crashProducer(b, w, stop, &mu, &acked, &crashed) })
	}
	time.Sleep(time.Duration(2+rng.IntN(20)) * time.Millisecond)
	mu.Lock()
	after := fsys.Reboot(rng) // acks recorded after this are not counted
	crashed = true
	mu.Unlock()
	close(stop)
	wg.Wait()
	b.Close() // the abandoned engine only meets ErrCrashed
	b2 := openMemBroker(t, after)
	defer b2.Close()
	checkServed(t, b2, acked)
}

// crashProducer sends acks=-1 requests of 1-3 partitions until stop.
func crashProducer(b *Broker, w int, stop chan struct{}, mu *sync.Mutex, acked *[]ackedBatch, crashed *bool) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		parts := map[int32][]byte{}
		for k := range 1 + i%3 {
			vals := [][]byte{bytes.Repeat([]byte{byte(w)}, 20+(i*7+k)%80)}
			parts[int32((w+i+k)%crashParts)] = makeBatch(testBatch{values: vals, baseTs: int64(i)})
		}
		sent := map[int32][]byte{}
		for p, batch := range parts {
			sent[p] = bytes.Clone(batch)
		}
		done := make(chan kmsg.Response, 1)
		if err := b.Handle(produceReq("crash", -1, parts), func(r kmsg.Response) { done <- r }); err != nil {
			return
		}
		resp, err := decodeProduceResponse(<-done)
		if err != nil {
			panic(err) // a response kmsg cannot read: fail loudly
		}
		mu.Lock()
		for _, sp := range resp.Topics[0].Partitions {
			if sp.ErrorCode == 0 && !*crashed {
				stored := sent[sp.Partition]
				wal.SetBaseOffset(stored, sp.BaseOffset)
				wal.SetLeaderEpoch(stored, 0)
				*acked = append(*acked, ackedBatch{sp.Partition, stored})
			}
		}
		mu.Unlock()
	}
}

func checkServed(t *testing.T, b *Broker, acked []ackedBatch) {
	t.Helper()
	for p := range int32(crashParts) {
		served, hw := fetchAll(t, b, "crash", p)
		byBase := map[int64][]byte{}
		next := int64(0)
		err := wal.ForEachBatch(served, func(h wal.BatchHeader, batch []byte) bool {
			if h.BaseOffset != next || !wal.CheckBatchCRC(batch) {
				t.Fatalf("partition %d: batch at %d, want %d (crc ok %v)", p, h.BaseOffset, next, wal.CheckBatchCRC(batch))
			}
			byBase[h.BaseOffset] = batch
			next = h.NextOffset()
			return true
		})
		if err != nil || next != hw {
			t.Fatalf("partition %d: served up to %d, high watermark %d: %v", p, next, hw, err)
		}
		for _, a := range acked {
			if a.p != p {
				continue
			}
			h, _ := wal.ParseBatchHeader(a.bytes)
			if !bytes.Equal(byBase[h.BaseOffset], a.bytes) {
				t.Fatalf("partition %d: acknowledged batch at %d lost or changed", p, h.BaseOffset)
			}
		}
	}
}

// TestStorageErrorFencesOnlyThatPartition: a failing disk write or sync on
// one partition makes it answer KAFKA_STORAGE_ERROR to produce and fetch
// from then on (sticky, even after the disk recovers: Kafka's offline
// partition), while its other partitions and topics, fetches and metadata
// keep working (standalone: a cluster broker gives up all of them,
// storage.go).
func TestStorageErrorFencesOnlyThatPartition(t *testing.T) {
	for _, op := range []string{memfs.OpWrite, memfs.OpSync} {
		t.Run(op, func(t *testing.T) {
			fsys := memfs.New()
			b := openMemBroker(t, fsys)
			defer b.Close()
			for _, name := range []string{"bad", "good"} {
				if _, kerrv := b.createTopicChecked(name, 2, -1, nil, false); kerrv != nil {
					t.Fatal(kerrv)
				}
			}
			one := func() []byte { return makeBatch(testBatch{values: [][]byte{[]byte("v")}}) }
			produce := func(topic string, p int32) int16 {
				resp := asProduceResponse(t, handleSync(t, b, produceReq(topic, -1, map[int32][]byte{p: one()})))
				return resp.Topics[0].Partitions[0].ErrorCode
			}
			if c := produce("bad", 0); c != 0 {
				t.Fatalf("healthy produce: %v", kerr.ErrorForCode(c))
			}
			fsys.InjectError(op, "/data/bad-0/", errors.New("EIO"))
			if c := produce("bad", 0); c != kerr.KafkaStorageError.Code {
				t.Fatalf("produce on failing disk: code %d", c)
			}
			fsys.ClearErrors()
			if c := produce("bad", 0); c != kerr.KafkaStorageError.Code {
				t.Fatalf("produce after the disk recovered must stay fenced, got code %d", c)
			}
			for _, tp := range []struct {
				topic string
				p     int32
			}{{"bad", 1}, {"good", 0}, {"good", 1}} {
				if c := produce(tp.topic, tp.p); c != 0 {
					t.Fatalf("%s-%d produce: %v", tp.topic, tp.p, kerr.ErrorForCode(c))
				}
			}
			if c := fetchAt(t, b, "bad", 0, 0).ErrorCode; c != kerr.KafkaStorageError.Code {
				t.Fatalf("fetch of the failed partition: %v, want KAFKA_STORAGE_ERROR (offline until restart)", kerr.ErrorForCode(c))
			}
			if served, _ := fetchAll(t, b, "good", 1); len(served) == 0 {
				t.Fatal("a healthy partition stopped serving")
			}
		})
	}
}

// crashRounds is CHRONIK_CRASH_ROUNDS (make crash-soak sets it) or def.
func crashRounds(t *testing.T, def int) int {
	v := os.Getenv("CHRONIK_CRASH_ROUNDS")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("CHRONIK_CRASH_ROUNDS=%q: want a positive integer", v)
	}
	return n
}
