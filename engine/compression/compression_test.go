package compression

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// written returns b as a writer from newWriter compresses it.
func written(t testing.TB, newWriter func(io.Writer) io.WriteCloser, b []byte) []byte {
	var buf bytes.Buffer
	w := newWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t testing.TB, b []byte) []byte {
	return written(t, func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) }, b)
}

func lz4Framed(t testing.TB, b []byte) []byte {
	return written(t, func(w io.Writer) io.WriteCloser { return lz4.NewWriter(w) }, b)
}

func zstded(t testing.TB, b []byte) []byte {
	e, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	return e.EncodeAll(b, nil)
}

// xerial frames b as two snappy blocks after the 16-byte xerial header.
func xerial(b []byte) []byte {
	out := append(append([]byte(nil), xerialHeader...), 0, 0, 0, 1, 0, 0, 0, 1)
	for _, blk := range [][]byte{b[:len(b)/2], b[len(b)/2:]} {
		enc := s2.EncodeSnappy(nil, blk)
		out = binary.BigEndian.AppendUint32(out, uint32(len(enc)))
		out = append(out, enc...)
	}
	return out
}

func TestDecompressEveryCodecRoundTrips(t *testing.T) {
	records := bytes.Repeat([]byte("records of a batch "), 100)
	for _, tt := range []struct {
		name  string
		codec int16
		data  []byte
	}{
		{"none", None, records},
		{"gzip", Gzip, gzipped(t, records)},
		{"snappy", Snappy, s2.EncodeSnappy(nil, records)},
		{"snappy-xerial", Snappy, xerial(records)},
		{"lz4", LZ4, lz4Framed(t, records)},
		{"zstd", Zstd, zstded(t, records)},
	} {
		got, err := Decompress(tt.codec, tt.data, MaxDecodedBytes)
		if err != nil || !bytes.Equal(got, records) {
			t.Errorf("%s: %d bytes, err %v; want the %d original bytes", tt.name, len(got), err, len(records))
		}
	}
}

// Bad input is an error, never a panic: a stored batch is whatever a
// producer sent, and only its header and CRC were checked.
func TestDecompressBadInputIsAnError(t *testing.T) {
	for _, tt := range []struct {
		name  string
		codec int16
		data  []byte
	}{
		{"unknown codec", 5, []byte("x")},
		{"gzip garbage", Gzip, []byte("not gzip")},
		{"snappy garbage", Snappy, []byte{0x05, 0xff, 0xff}},
		{"xerial header cut short", Snappy, append(append([]byte(nil), xerialHeader...), 0, 0)},
		{"xerial block longer than the data", Snappy, append(xerial([]byte("abcd")), 0, 0, 0, 9, 1)},
		{"zstd garbage", Zstd, []byte("not zstd")},
	} {
		if _, err := Decompress(tt.codec, tt.data, MaxDecodedBytes); err == nil {
			t.Errorf("%s: decompressed without an error", tt.name)
		}
	}
}

// FuzzDecompress: any bytes under any codec decode or fail, never panic.
func FuzzDecompress(f *testing.F) {
	records := []byte("fuzzed records")
	f.Add(int16(Gzip), gzipped(f, records))
	f.Add(int16(Snappy), s2.EncodeSnappy(nil, records))
	f.Add(int16(Snappy), xerial(records))
	f.Add(int16(LZ4), lz4Framed(f, records))
	f.Add(int16(Zstd), zstded(f, records))
	f.Fuzz(func(t *testing.T, codec int16, data []byte) {
		Decompress(codec&7, data, 1<<20)
	})
}

// A small input that declares (or inflates to) more than the limit is
// refused without allocating the declared size: a 5-byte snappy block
// claiming 4 GiB, and real data of every codec that inflates past a small
// limit.
func TestDecompressRefusesOutputOverTheLimit(t *testing.T) {
	bomb := binary.AppendUvarint(nil, 1<<32-1) // raw snappy: declared length only
	bomb = append(bomb, 0)
	if _, err := Decompress(Snappy, bomb, MaxDecodedBytes); err != ErrTooLarge {
		t.Errorf("snappy block declaring 4 GiB: err %v, want ErrTooLarge", err)
	}
	big := bytes.Repeat([]byte{'z'}, 1<<20)
	const limit = 64 << 10
	for _, tt := range []struct {
		name  string
		codec int16
		data  []byte
	}{
		{"gzip", Gzip, gzipped(t, big)},
		{"snappy", Snappy, s2.EncodeSnappy(nil, big)},
		{"xerial", Snappy, xerial(big)},
		{"lz4", LZ4, lz4Framed(t, big)},
		{"zstd", Zstd, zstded(t, big)},
	} {
		if _, err := Decompress(tt.codec, tt.data, limit); err != ErrTooLarge {
			t.Errorf("%s: 1 MiB of output with a 64 KiB limit: err %v, want ErrTooLarge", tt.name, err)
		}
		if out, err := Decompress(tt.codec, tt.data, len(big)); err != nil || !bytes.Equal(out, big) {
			t.Errorf("%s: at the limit: %d bytes, err %v", tt.name, len(out), err)
		}
	}
}
