package group

import (
	"bytes"
	"math"
	"testing"

	"github.com/chronik/chronik/wal"
)

// Group ids land on the __consumer_offsets partition Kafka would pick, so a
// cluster can place coordinators as Kafka does.
func TestGroupPartitionMatchesKafka(t *testing.T) {
	tests := []struct {
		group string
		n     int32
		want  int32
	}{
		{"", 50, 0},
		{"a", 50, 97 % 50},
		{"Hello World", 50, 862545276 % 50},             // hashCode -862545276: abs
		{"polygenelubricants", 50, 0},                   // hashCode Integer.MIN_VALUE: Utils.abs gives 0
		{"\u00e4", math.MaxInt32, 228},                  // one UTF-16 unit
		{"\U0001F600", math.MaxInt32, 55357*31 + 56832}, // a surrogate pair hashes as two units
	}
	for _, tt := range tests {
		if got := Partition(tt.group, tt.n); got != tt.want {
			t.Errorf("Partition(%q, %d) = %d, want %d", tt.group, tt.n, got, tt.want)
		}
	}
}

func TestInternalRecordsRoundTrip(t *testing.T) {
	recs := []logRecord{
		{key: offsetKey("g", topicPartition{"t", 3}), value: offsetValue(committedOffset{offset: 42, leaderEpoch: 7, metadata: "m", timestampMs: 1000})},
		{key: offsetKey("g", topicPartition{"t", 4})}, // tombstone
		{key: groupKey("g")},
	}
	batch := encodeRecordBatch(recs, 1234)
	if !wal.CheckBatchCRC(batch) {
		t.Fatal("batch CRC does not verify")
	}
	h, err := wal.ParseBatchHeader(batch)
	if err != nil || h.Size() != int64(len(batch)) || h.RecordCount != 3 || h.ProducerID != -1 {
		t.Fatalf("header %+v, err %v", h, err)
	}
	var got []decodedRecord
	err = forEachRecord(h, batch, func(off int64, key, value []byte) error {
		if !bytes.Equal(key, recs[off].key) || !bytes.Equal(value, recs[off].value) {
			t.Errorf("record %d: key %x value %x, want %x %x", off, key, value, recs[off].key, recs[off].value)
		}
		r, err := decodeRecord(key, value)
		got = append(got, r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if o := got[0].offset; got[0].group != "g" || *got[0].tp != (topicPartition{"t", 3}) || o == nil || *o != (committedOffset{42, 7, "m", 1000}) {
		t.Errorf("offset record decoded as %+v", got[0])
	}
	if got[1].tp == nil || got[1].offset != nil || got[2].tp != nil || got[2].meta != nil || got[2].group != "g" {
		t.Errorf("tombstones decoded as %+v %+v", got[1], got[2])
	}
	if _, err := decodeRecord([]byte{0, 9, 0, 0}, nil); err == nil {
		t.Error("unknown key version decoded without error")
	}
}
