// Package compression undoes the compression of a Kafka v2 RecordBatch's
// records: the codec is attributes & 0x07 (0 none, 1 gzip, 2 snappy, 3 lz4,
// 4 zstd) and the compressed bytes are everything after the 61-byte batch
// header. The broker stores batches as produced and never decompresses on
// the produce or fetch path; ListOffsets by timestamp and the group
// coordinator's replay read records, and call Decompress.
package compression

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codecs as the low three bits of a batch's attributes name them.
const (
	None   = 0
	Gzip   = 1
	Snappy = 2
	LZ4    = 3
	Zstd   = 4
)

// xerialHeader starts snappy data in the xerial framing some producers use.
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// MaxDecodedBytes bounds what Decompress produces from one batch: a few
// bytes of produced data may declare gigabytes of output (a decompression
// bomb), and the broker must not allocate them. Real batches are at most
// message.max.bytes compressed; 128 MiB of records leaves room for
// compression ratios far beyond what record data reaches.
const MaxDecodedBytes = 128 << 20

// ErrTooLarge is returned for data that decodes to more than the limit.
var ErrTooLarge = errors.New("compression: decoded records over the size limit")

// Decompress returns the records of a batch compressed with codec: data
// itself for None, else a new slice (snappy raw or xerial-framed, lz4
// frame) of at most limit bytes (ErrTooLarge beyond: checked before
// allocating where the format declares its size, by reading at most
// limit+1 bytes otherwise). Any goroutine may call it; it allocates, so
// keep it off hot paths.
func Decompress(codec int16, data []byte, limit int) ([]byte, error) {
	switch codec {
	case None:
		return data, nil
	case Gzip:
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		return readLimited(r, limit)
	case Snappy:
		if !bytes.HasPrefix(data, xerialHeader) {
			return snappyBlock(data, limit)
		}
		return xerialDecode(data, limit)
	case LZ4:
		return readLimited(lz4.NewReader(bytes.NewReader(data)), limit)
	case Zstd:
		d, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(uint64(limit)), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		defer d.Close()
		out, err := d.DecodeAll(data, nil)
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
			return nil, ErrTooLarge
		}
		return out, err
	}
	return nil, fmt.Errorf("unknown compression codec %d", codec)
}

// readLimited reads r to its end, failing once it yields over limit bytes.
func readLimited(r io.Reader, limit int) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err == nil && len(out) > limit {
		return nil, ErrTooLarge
	}
	return out, err
}

// snappyBlock decodes one raw snappy block whose declared length is within
// limit.
func snappyBlock(data []byte, limit int) ([]byte, error) {
	n, err := s2.DecodedLen(data)
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, ErrTooLarge
	}
	return s2.Decode(nil, data)
}

// xerialDecode decodes xerial-framed snappy: the 8-byte header, two int32
// versions, then blocks of int32 length + raw snappy.
func xerialDecode(data []byte, limit int) ([]byte, error) {
	if len(data) < 16 {
		return nil, errors.New("xerial: short header")
	}
	var out []byte
	for data = data[16:]; len(data) > 0; {
		if len(data) < 4 {
			return nil, errors.New("xerial: short block header")
		}
		n := int(binary.BigEndian.Uint32(data))
		if n > len(data)-4 {
			return nil, errors.New("xerial: short block")
		}
		blk, err := snappyBlock(data[4:4+n], limit-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, blk...)
		data = data[4+n:]
	}
	return out, nil
}
