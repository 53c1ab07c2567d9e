package wal

import (
	"errors"
	"testing"
)

func TestParseBatchHeader(t *testing.T) {
	b := makeBatch(5, 7, 1700000000000)
	SetBaseOffset(b, 42)
	SetLeaderEpoch(b, 3)
	cases := []struct {
		name    string
		in      []byte
		wantErr error
		check   func(t *testing.T, h BatchHeader)
	}{
		{"valid batch", b, nil, func(t *testing.T, h BatchHeader) {
			if h.BaseOffset != 42 || h.PartitionLeaderEpoch != 3 || h.Magic != 2 {
				t.Fatalf("header %+v", h)
			}
			if h.LastOffsetDelta != 4 || h.LastOffset() != 46 || h.NextOffset() != 47 {
				t.Fatalf("offsets %+v", h)
			}
			if h.Size() != int64(len(b)) || h.RecordCount != 5 {
				t.Fatalf("size %d want %d", h.Size(), len(b))
			}
			if h.BaseTimestamp != 1700000000000 || h.MaxTimestamp != 1700000000004 {
				t.Fatalf("timestamps %+v", h)
			}
			if h.ProducerID != -1 || h.ProducerEpoch != -1 || h.BaseSequence != -1 {
				t.Fatalf("producer %+v", h)
			}
		}},
		{"header only", b[:BatchHeaderSize], nil, nil},
		{"one byte short", b[:BatchHeaderSize-1], ErrCorruptBatch, nil},
		{"empty", nil, ErrCorruptBatch, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := ParseBatchHeader(c.in)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err %v want %v", err, c.wantErr)
			}
			if c.check != nil {
				c.check(t, h)
			}
		})
	}
}

func TestCheckBatchCRC(t *testing.T) {
	flip := func(i int) []byte {
		b := makeBatch(3, 20, 1)
		b[i] ^= 0x40
		return b
	}
	cases := []struct {
		name string
		in   []byte
		want bool
	}{
		{"valid", makeBatch(3, 20, 1), true},
		{"base offset is outside the crc", flip(offBaseOffset + 7), true},
		{"leader epoch is outside the crc", flip(offLeaderEpoch + 2), true},
		{"attributes are covered", flip(offAttributes), false},
		{"record bytes are covered", flip(BatchHeaderSize + 3), false},
		{"crc field itself", flip(offCRC), false},
		{"truncated", makeBatch(3, 20, 1)[:70], false},
		{"too short for a header", make([]byte, 10), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := CheckBatchCRC(c.in); got != c.want {
				t.Fatalf("CheckBatchCRC = %v, want %v", got, c.want)
			}
		})
	}
}

func TestForEachBatch(t *testing.T) {
	a, b := makeBatch(1, 5, 1), makeBatch(2, 5, 1)
	SetBaseOffset(b, 1)
	buf := append(append([]byte(nil), a...), b...)
	var offs []int64
	if err := ForEachBatch(buf, func(h BatchHeader, batch []byte) bool {
		offs = append(offs, h.BaseOffset)
		return len(batch) == int(h.Size())
	}); err != nil || len(offs) != 2 || offs[1] != 1 {
		t.Fatalf("offsets %v err %v", offs, err)
	}
	if err := ForEachBatch(buf[:len(buf)-1], func(BatchHeader, []byte) bool { return true }); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("partial tail: err %v", err)
	}
	n := 0
	ForEachBatch(buf, func(BatchHeader, []byte) bool { n++; return false })
	if n != 1 {
		t.Fatalf("early stop visited %d", n)
	}
}

func FuzzParseBatchHeader(f *testing.F) {
	f.Add(makeBatch(1, 1, 0))
	f.Add(makeBatch(3, 50, 99)[:BatchHeaderSize])
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseBatchHeader(b)
		if (err != nil) != (len(b) < BatchHeaderSize) {
			t.Fatalf("len %d err %v", len(b), err)
		}
		if err != nil {
			return
		}
		// Stamping the fields outside the CRC round-trips and keeps the CRC.
		c := append([]byte(nil), b...)
		crcOK := CheckBatchCRC(c[:min(len(c), int(max(h.Size(), 0)))])
		SetBaseOffset(c, h.BaseOffset+1)
		SetLeaderEpoch(c, h.PartitionLeaderEpoch+1)
		h2, _ := ParseBatchHeader(c)
		if h2.BaseOffset != h.BaseOffset+1 || h2.PartitionLeaderEpoch != h.PartitionLeaderEpoch+1 || h2.CRC != h.CRC {
			t.Fatalf("stamp changed other fields: %+v vs %+v", h, h2)
		}
		if got := CheckBatchCRC(c[:min(len(c), int(max(h.Size(), 0)))]); got != crcOK {
			t.Fatalf("stamping changed CRC validity")
		}
		ForEachBatch(b, func(BatchHeader, []byte) bool { return true })
	})
}
