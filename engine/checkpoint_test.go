package engine

import (
	"bytes"
	"testing"

	"github.com/chronik/chronik/engine/partition"
	"github.com/chronik/chronik/wal/vfs/memfs"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCheckpointWaitsForBytesOrAge: at a checkpoint tick a partition is
// checkpointed once its log holds log.flush.offset.checkpoint.min.bytes
// past its recovery point; one that grew by less waits for the
// recoveryCheckpointMaxTicks-th tick, and one that did not grow is never
// checkpointed.
func TestCheckpointWaitsForBytesOrAge(t *testing.T) {
	b := openMemBroker(t, memfs.New(), func(c *Config) {
		c.RecoveryCheckpointMs = 0 // the test runs the ticks
		c.SegmentBytes = 1 << 20
		c.RecoveryCheckpointMinBytes = 8 << 10
	})
	defer b.Close()
	if _, kerrv := b.createTopicChecked("ckpt", 3, -1, nil, false); kerrv != nil {
		t.Fatal(kerrv)
	}
	produce := func(p int32, valueBytes, records int) {
		t.Helper()
		vals := make([][]byte, records)
		for i := range vals {
			vals[i] = bytes.Repeat([]byte{'v'}, valueBytes)
		}
		done := make(chan kmsg.Response, 1)
		if err := b.Handle(produceReq("ckpt", 1, map[int32][]byte{p: makeBatch(testBatch{values: vals})}), func(r kmsg.Response) { done <- r }); err != nil {
			t.Fatal(err)
		}
		resp, err := decodeProduceResponse(<-done)
		if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("produce to %d: %v %+v", p, err, resp)
		}
	}
	parts := make([]*partition.Partition, 3)
	for i := range parts {
		_, parts[i] = b.lookupPartition("ckpt", [16]byte{}, int32(i))
		if parts[i] == nil {
			t.Fatalf("partition %d not found", i)
		}
	}
	checkpointed := func(i int) bool {
		l := parts[i].Log()
		return l.RecoveryPoint() == l.LogEndOffset()
	}
	produce(0, 100, 4)   // a trickle: 400 B of values
	produce(1, 1000, 10) // 10 KB: past the 8 KiB
	tick := 1
	b.checkpointPartitions(tick%recoveryCheckpointMaxTicks == 0)
	if !checkpointed(1) {
		t.Fatalf("partition 1 (%d bytes past its point) not checkpointed at the first tick", parts[1].Log().BytesPastRecoveryPoint())
	}
	if checkpointed(0) {
		t.Fatal("partition 0 checkpointed at the first tick with a few hundred bytes past its point")
	}
	// Past an exact point (the one just written) too: a trickle waits,
	// 10 KB more is due at the next tick.
	produce(1, 100, 4)
	tick++
	if b.checkpointPartitions(tick%recoveryCheckpointMaxTicks == 0); checkpointed(1) {
		t.Fatal("partition 1 checkpointed again for 400 B past its point")
	}
	produce(1, 1000, 10)
	tick++
	if b.checkpointPartitions(tick%recoveryCheckpointMaxTicks == 0); !checkpointed(1) {
		t.Fatalf("partition 1 (%d bytes past its point) not checkpointed", parts[1].Log().BytesPastRecoveryPoint())
	}
	for tick++; tick < recoveryCheckpointMaxTicks; tick++ {
		b.checkpointPartitions(tick%recoveryCheckpointMaxTicks == 0)
		if checkpointed(0) {
			t.Fatalf("partition 0 checkpointed at tick %d, before %d", tick, recoveryCheckpointMaxTicks)
		}
	}
	rp2 := parts[2].Log().RecoveryPoint()
	b.checkpointPartitions(tick%recoveryCheckpointMaxTicks == 0)
	if !checkpointed(0) {
		t.Fatalf("partition 0 not checkpointed at tick %d", recoveryCheckpointMaxTicks)
	}
	if parts[2].Log().RecoveryPoint() != rp2 || parts[2].Log().LogEndOffset() != 0 {
		t.Fatal("the partition nothing was written to moved its recovery point")
	}
}
