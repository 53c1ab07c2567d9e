package engine

import (
	"encoding/binary"
	"testing"

	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kerr"
)

// testBatch describes a v2 RecordBatch to build in tests.
type testBatch struct {
	values      [][]byte
	baseTs      int64
	tsStep      int64 // timestamp delta between records
	attrs       int16
	idempotent  bool
	producerID  int64
	epoch       int16
	baseSeq     int32
	leaderEpoch int32
}

// makeBatch encodes b as an uncompressed v2 RecordBatch with a valid CRC.
func makeBatch(b testBatch) []byte {
	if !b.idempotent {
		b.producerID = -1
		b.epoch = -1
		b.baseSeq = -1
	}
	var recs []byte
	for i, v := range b.values {
		var r []byte
		r = append(r, 0)                              // attributes
		r = binary.AppendVarint(r, int64(i)*b.tsStep) // timestamp delta
		r = binary.AppendVarint(r, int64(i))          // offset delta
		r = binary.AppendVarint(r, -1)                // null key
		r = binary.AppendVarint(r, int64(len(v)))     // value
		r = append(r, v...)                           //
		r = binary.AppendVarint(r, 0)                 // headers
		recs = binary.AppendVarint(recs, int64(len(r)))
		recs = append(recs, r...)
	}
	n := len(b.values)
	out := make([]byte, 61, 61+len(recs))
	be := binary.BigEndian
	be.PutUint64(out[0:], 0)
	be.PutUint32(out[8:], uint32(49+len(recs)))
	be.PutUint32(out[12:], uint32(b.leaderEpoch))
	out[16] = 2
	be.PutUint16(out[21:], uint16(b.attrs))
	be.PutUint32(out[23:], uint32(n-1))
	be.PutUint64(out[27:], uint64(b.baseTs))
	be.PutUint64(out[35:], uint64(b.baseTs+int64(n-1)*b.tsStep))
	be.PutUint64(out[43:], uint64(b.producerID))
	be.PutUint16(out[51:], uint16(b.epoch))
	be.PutUint32(out[53:], uint32(b.baseSeq))
	be.PutUint32(out[57:], uint32(n))
	out = append(out, recs...)
	be.PutUint32(out[17:], wal.CRC32C(out[21:]))
	return out
}

func fixCRC(b []byte) []byte {
	binary.BigEndian.PutUint32(b[17:], wal.CRC32C(b[21:]))
	return b
}

func TestValidateBatchRejectsWhatKafkaRejects(t *testing.T) {
	valid := func() []byte { return makeBatch(testBatch{values: [][]byte{[]byte("a"), []byte("bc")}}) }
	tests := []struct {
		name   string
		mutate func([]byte) []byte
		max    int64
		want   *kerr.Error
	}{
		{"valid", func(b []byte) []byte { return b }, 1 << 20, nil},
		{"short header", func(b []byte) []byte { return b[:40] }, 1 << 20, kerr.CorruptMessage},
		{"bad crc", func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }, 1 << 20, kerr.CorruptMessage},
		{"length too long", func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], uint32(len(b))); return b }, 1 << 20, kerr.CorruptMessage},
		{"length too short", func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], uint32(len(b)-20)); return b }, 1 << 20, kerr.CorruptMessage},
		{"trailing garbage", func(b []byte) []byte { return append(b, 1, 2, 3) }, 1 << 20, kerr.CorruptMessage},
		{"two batches", func(b []byte) []byte { return append(b, valid()...) }, 1 << 20, kerr.InvalidRecord},
		{"magic 1", func(b []byte) []byte { b[16] = 1; return fixCRC(b) }, 1 << 20, kerr.CorruptMessage},
		{"too large", func(b []byte) []byte { return b }, 50, kerr.MessageTooLarge},
		{"count mismatch", func(b []byte) []byte { binary.BigEndian.PutUint32(b[57:], 3); return fixCRC(b) }, 1 << 20, kerr.CorruptMessage},
		{"zero records", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[57:], 0)
			binary.BigEndian.PutUint32(b[23:], 0xffffffff)
			return fixCRC(b)
		}, 1 << 20, kerr.CorruptMessage},
		{"bad codec", func(b []byte) []byte { b[22] |= 7; return fixCRC(b) }, 1 << 20, kerr.CorruptMessage},
		{"control batch", func(b []byte) []byte { b[22] |= wal.AttrControl; return fixCRC(b) }, 1 << 20, kerr.InvalidRecord},
		{"transactional", func(b []byte) []byte { b[22] |= wal.AttrTransactional; return fixCRC(b) }, 1 << 20, kerr.InvalidTxnState},
		{"record framing", func(b []byte) []byte { b[61] = 0x7e; return fixCRC(b) }, 1 << 20, kerr.CorruptMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := validateBatch(tt.mutate(valid()), tt.max)
			if got != tt.want {
				t.Fatalf("validateBatch = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSetLogAppendTimeKeepsCRCValid(t *testing.T) {
	b := makeBatch(testBatch{values: [][]byte{[]byte("x")}, baseTs: 1000})
	setLogAppendTime(b, 123456)
	h, err := validateBatch(b, 1<<20)
	if err != nil {
		t.Fatalf("after setLogAppendTime: %v", err)
	}
	if h.MaxTimestamp != 123456 || h.Attributes&wal.AttrLogAppendTime == 0 {
		t.Fatalf("header %+v", h)
	}
}

func TestFirstRecordAtOrAfter(t *testing.T) {
	b := makeBatch(testBatch{values: [][]byte{{1}, {2}, {3}, {4}}, baseTs: 1000, tsStep: 10})
	binary.BigEndian.PutUint64(b[0:], 50) // base offset
	for _, tc := range []struct {
		target, off, ts int64
		ok              bool
	}{{0, 50, 1000, true}, {1000, 50, 1000, true}, {1001, 51, 1010, true}, {1030, 53, 1030, true}, {1031, -1, -1, false}} {
		off, ts, ok := firstRecordAtOrAfter(b, tc.target)
		if off != tc.off || ts != tc.ts || ok != tc.ok {
			t.Errorf("target %d: got (%d,%d,%v), want (%d,%d,%v)", tc.target, off, ts, ok, tc.off, tc.ts, tc.ok)
		}
	}
}

func FuzzValidateBatch(f *testing.F) {
	f.Add(makeBatch(testBatch{values: [][]byte{[]byte("a")}}))
	f.Add(makeBatch(testBatch{values: [][]byte{[]byte("a"), nil, []byte("ccc")}, idempotent: true, producerID: 7, baseSeq: 3}))
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := validateBatch(b, 1<<20)
		if err != nil {
			return
		}
		// Accepted batches must be exactly one well-formed batch.
		if h.Size() != int64(len(b)) || h.Magic != 2 || h.RecordCount != h.LastOffsetDelta+1 {
			t.Fatalf("accepted a malformed batch: %+v len=%d", h, len(b))
		}
	})
}

// varint decodes every input as binary.Varint does (its fast paths are
// the one- and two-byte cases).
func FuzzVarintMatchesBinaryVarint(f *testing.F) {
	for _, seed := range [][]byte{{}, {0}, {1}, {0x7f}, {0x80}, {0x80, 1}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		gotV, gotN := varint(b)
		wantV, wantN := binary.Varint(b)
		if gotV != wantV || gotN != wantN {
			t.Fatalf("varint(%x) = %d, %d; binary.Varint: %d, %d", b, gotV, gotN, wantV, wantN)
		}
	})
}

func TestVarintMatchesBinaryVarintOnEveryShortInput(t *testing.T) {
	for v := range 1 << 16 {
		for _, b := range [][]byte{{byte(v)}, {byte(v), byte(v >> 8)}, {byte(v), byte(v >> 8), 0xff}, {byte(v), byte(v >> 8), 1}} {
			gotV, gotN := varint(b)
			if wantV, wantN := binary.Varint(b); gotV != wantV || gotN != wantN {
				t.Fatalf("varint(%x) = %d, %d; binary.Varint: %d, %d", b, gotV, gotN, wantV, wantN)
			}
		}
	}
}

// BenchmarkRecordFraming is the produce path's walk over an uncompressed
// batch of 1,000 records of 100-byte values (two-byte record lengths and
// timestamp deltas, offset deltas past 63).
func BenchmarkRecordFraming(b *testing.B) {
	values := make([][]byte, 1000)
	for i := range values {
		values[i] = make([]byte, 100)
	}
	batch := makeBatch(testBatch{values: values, baseTs: 1, tsStep: 7})
	recs, count := batch[61:], int32(len(values))
	if !validRecordFraming(recs, count) {
		b.Fatal("framing rejected")
	}
	b.SetBytes(int64(len(recs)))
	for b.Loop() {
		validRecordFraming(recs, count)
	}
}
