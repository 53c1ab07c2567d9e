package partition

import (
	"math"
	"testing"

	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestIdempotentSequenceChecks(t *testing.T) {
	p := &Partition{producers: map[int64]*producerState{}}
	hdr := func(epoch int16, seq int32, n int32) wal.BatchHeader {
		return wal.BatchHeader{ProducerID: 9, ProducerEpoch: epoch, BaseSequence: seq, LastOffsetDelta: n - 1, RecordCount: n}
	}
	step := func(h wal.BatchHeader, base int64, wantDup bool, wantBase int64, wantErr *kerr.Error) {
		t.Helper()
		dupBase, dup, err := p.checkSequence(h)
		if err != wantErr || dup != wantDup || (dup && dupBase != wantBase) {
			t.Fatalf("checkSequence(%+v) = (%d,%v,%v), want (%d,%v,%v)", h, dupBase, dup, err, wantBase, wantDup, wantErr)
		}
		if !dup && err == nil {
			p.recordProducerBatch(h, base)
		}
	}
	step(hdr(0, 5, 1), 0, false, 0, kerr.OutOfOrderSequenceNumber) // unknown producer must start at 0
	step(hdr(0, 0, 3), 0, false, 0, nil)                           // seq 0-2 at offset 0
	step(hdr(0, 3, 2), 3, false, 0, nil)                           // seq 3-4 at offset 3
	step(hdr(0, 0, 3), 0, true, 0, nil)                            // retry of the first: duplicate
	step(hdr(0, 3, 2), 0, true, 3, nil)                            // retry of the second
	step(hdr(0, 7, 1), 0, false, 0, kerr.OutOfOrderSequenceNumber) // gap
	step(hdr(1, 3, 1), 0, false, 0, kerr.OutOfOrderSequenceNumber) // new epoch must restart at 0
	step(hdr(1, 0, 1), 5, false, 0, nil)                           // epoch bump
	step(hdr(0, 1, 1), 0, false, 0, kerr.InvalidProducerEpoch)     // fenced old epoch
	for i := int32(1); i <= 6; i++ {                               // only the last 5 batches are remembered
		step(hdr(1, i, 1), 5+int64(i), false, 0, nil)
	}
	step(hdr(1, 1, 1), 0, false, 0, kerr.OutOfOrderSequenceNumber)
	step(hdr(1, 2, 1), 0, true, 7, nil)
}

func TestSequenceWrapsAtInt32Max(t *testing.T) {
	if got := lastSequence(math.MaxInt32-1, 3); got != 1 {
		t.Fatalf("lastSequence wrap = %d, want 1", got)
	}
	if nextSeq(math.MaxInt32) != 0 {
		t.Fatal("nextSeq must wrap to 0")
	}
	p := &Partition{producers: map[int64]*producerState{}}
	h := wal.BatchHeader{ProducerID: 1, BaseSequence: 0, LastOffsetDelta: 0}
	p.recordProducerBatch(h, 0)
	p.producers[1].batches[0].lastSeq = math.MaxInt32
	if _, _, err := p.checkSequence(wal.BatchHeader{ProducerID: 1, BaseSequence: 0, LastOffsetDelta: 1}); err != nil {
		t.Fatalf("sequence after MaxInt32 must be 0: %v", err)
	}
}
