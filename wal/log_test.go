package wal

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestAppendReadRoundTrip(t *testing.T) {
	l, _ := openMem(t, Options{})
	defer l.Close()
	var want [][]byte
	for i := range 10 {
		b := makeBatch(3, 10, int64(1000+i))
		if off := mustAppend(t, l, b, 0); off != int64(i*3) {
			t.Fatalf("append %d got offset %d", i, off)
		}
		want = append(want, b)
	}
	if l.LogEndOffset() != 30 {
		t.Fatalf("leo %d", l.LogEndOffset())
	}
	got, err := l.Read(0, 1<<20, 30)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.Join(want, nil)) {
		t.Fatal("read bytes differ from appended bytes")
	}
	h, _ := ParseBatchHeader(want[4])
	if h.BaseOffset != 12 || h.PartitionLeaderEpoch != 0 {
		t.Fatalf("stamped header %+v", h)
	}
}

func TestReadSemantics(t *testing.T) {
	l, _ := openMem(t, Options{})
	defer l.Close()
	sizes := []int{100, 100, 5000, 100, 100}
	var lens []int
	for _, s := range sizes {
		b := makeBatch(2, s, 0)
		lens = append(lens, len(b))
		mustAppend(t, l, b, 0)
	} // batches at 0,2,4,6,8; LEO 10
	cases := []struct {
		name      string
		offset    int64
		maxBytes  int32
		maxOffset int64
		want      []int64
		wantErr   error
	}{
		{"from start", 0, 1 << 20, 10, []int64{0, 2, 4, 6, 8}, nil},
		{"inside a batch returns it from its base", 3, 1 << 20, 10, []int64{2, 4, 6, 8}, nil},
		{"maxOffset cuts at the high watermark", 0, 1 << 20, 5, []int64{0, 2, 4}, nil},
		{"maxBytes stops before a batch that does not fit", 0, int32(lens[0] + lens[1] + 10), 10, []int64{0, 2}, nil},
		{"oversize first batch is returned whole (KIP-74)", 4, 10, 10, []int64{4}, nil},
		{"zero maxBytes still returns one batch", 0, 0, 10, []int64{0}, nil},
		{"at LEO is empty", 10, 1 << 20, 10, nil, nil},
		{"at maxOffset is empty", 6, 1 << 20, 6, nil, nil},
		{"past LEO is out of range", 11, 1 << 20, 20, nil, ErrOffsetOutOfRange},
		{"negative is out of range", -1, 1 << 20, 10, nil, ErrOffsetOutOfRange},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := l.Read(c.offset, c.maxBytes, c.maxOffset)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err %v, want %v", err, c.wantErr)
			}
			if c.want == nil && got != nil {
				t.Fatalf("want nil, got %d bytes", len(got))
			}
			if offs := batchOffsets(t, got); !slices.Equal(offs, c.want) {
				t.Fatalf("offsets %v, want %v", offs, c.want)
			}
		})
	}
}

func TestRollBySizeAndReadAcrossSegments(t *testing.T) {
	l, _ := openMem(t, Options{SegmentBytes: 1000, IndexIntervalBytes: 200})
	defer l.Close()
	for range 40 {
		mustAppend(t, l, makeBatch(1, 100, 5), 0)
	}
	if n := l.NumSegments(); n < 5 {
		t.Fatalf("segments %d, want several", n)
	}
	if l.Stats().Rolls != int64(l.NumSegments()-1) {
		t.Fatalf("rolls %d for %d segments", l.Stats().Rolls, l.NumSegments())
	}
	got, err := l.Read(0, 1<<20, 40)
	if err != nil {
		t.Fatal(err)
	}
	offs := batchOffsets(t, got)
	if len(offs) != 40 || offs[39] != 39 {
		t.Fatalf("read %d batches, last %v", len(offs), offs[len(offs)-1])
	}
	for off := int64(0); off < 40; off++ {
		got, err := l.Read(off, 1, 40)
		if err != nil {
			t.Fatal(err)
		}
		if o := batchOffsets(t, got); len(o) != 1 || o[0] != off {
			t.Fatalf("read at %d: %v", off, o)
		}
	}
}
