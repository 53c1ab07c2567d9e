package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/chronik/chronik/wal/vfs/memfs"
	"github.com/twmb/franz-go/pkg/kerr"
)

func produceCode(t *testing.T, b *Broker, topic string, acks int16, records int) int16 {
	t.Helper()
	vals := make([][]byte, records)
	for i := range vals {
		vals[i] = []byte("v")
	}
	req := produceReq(topic, acks, map[int32][]byte{0: makeBatch(testBatch{values: vals})})
	return asProduceResponse(t, handleSync(t, b, req)).Topics[0].Partitions[0].ErrorCode
}

// TestAcksOneIsAnsweredAfterTheWriteOnly: with every fdatasync failing,
// acks=1 still succeeds (it never waits for one) while acks=-1 reports
// KAFKA_STORAGE_ERROR (it does).
func TestAcksOneIsAnsweredAfterTheWriteOnly(t *testing.T) {
	fsys := memfs.New()
	b := openMemBroker(t, fsys, func(c *Config) { c.FlushMs = 1 << 40 })
	defer b.Close()
	for _, name := range []string{"one", "all"} {
		if _, kerrv := b.createTopicChecked(name, 1, -1, nil, false); kerrv != nil {
			t.Fatal(kerrv)
		}
	}
	fsys.InjectError(memfs.OpSync, ".log", errors.New("EIO"))
	for range 3 {
		if c := produceCode(t, b, "one", 1, 1); c != 0 {
			t.Fatalf("acks=1 with failing fdatasync: %v", kerr.ErrorForCode(c))
		}
	}
	if c := produceCode(t, b, "all", -1, 1); c != kerr.KafkaStorageError.Code {
		t.Fatalf("acks=-1 with failing fdatasync: code %d", c)
	}
}

// TestIntervalPolicySyncsAfterFlushMessages: flush.policy=interval answers
// acks=-1 without waiting, and log.flush.interval.messages makes the
// partition durable once that many records are unflushed.
func TestIntervalPolicySyncsAfterFlushMessages(t *testing.T) {
	fsys := memfs.New()
	b := openMemBroker(t, fsys, func(c *Config) {
		c.FlushPolicy, c.FlushMessages, c.FlushMs = "interval", 10, 1<<40
	})
	defer b.Close()
	if _, kerrv := b.createTopicChecked("iv", 1, -1, nil, false); kerrv != nil {
		t.Fatal(kerrv)
	}
	_, p := b.lookupPartition("iv", [16]byte{}, 0)
	for range 3 {
		if c := produceCode(t, b, "iv", -1, 3); c != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(c))
		}
	}
	if d := p.Log().DurableOffset(); d != 0 {
		t.Fatalf("durable offset %d after 9 records, below flush.messages=10: synced too early", d)
	}
	if c := produceCode(t, b, "iv", -1, 3); c != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(c))
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.Log().DurableOffset() != 12 {
		if time.Now().After(deadline) {
			t.Fatalf("durable offset %d, want 12 after flush.messages was reached", p.Log().DurableOffset())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFlushIntervalSyncsAcksOneData: the log.flush.interval.ms tick makes
// acks=1 data durable under the default ack policy.
func TestFlushIntervalSyncsAcksOneData(t *testing.T) {
	b := openMemBroker(t, memfs.New(), func(c *Config) { c.FlushMs = 5 })
	defer b.Close()
	if _, kerrv := b.createTopicChecked("tick", 1, -1, nil, false); kerrv != nil {
		t.Fatal(kerrv)
	}
	_, p := b.lookupPartition("tick", [16]byte{}, 0)
	if c := produceCode(t, b, "tick", 1, 4); c != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(c))
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.Log().DurableOffset() != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("durable offset %d, want 4 after the flush tick", p.Log().DurableOffset())
		}
		time.Sleep(time.Millisecond)
	}
}
