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

// Decompress returns the records of a batch compressed with codec: data
// itself for None, else a new slice (snappy raw or xerial-framed, lz4
// frame). Any goroutine may call it; it allocates, so keep it off hot paths.
func Decompress(codec int16, data []byte) ([]byte, error) {
	switch codec {
	case None:
		return data, nil
	case Gzip:
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	case Snappy:
		if !bytes.HasPrefix(data, xerialHeader) {
			return s2.Decode(nil, data)
		}
		return xerialDecode(data)
	case LZ4:
		return io.ReadAll(lz4.NewReader(bytes.NewReader(data)))
	case Zstd:
		d, err := zstd.NewReader(nil)
		if err != nil {
			return nil, err
		}
		defer d.Close()
		return d.DecodeAll(data, nil)
	}
	return nil, fmt.Errorf("unknown compression codec %d", codec)
}

// xerialDecode decodes xerial-framed snappy: the 8-byte header, two int32
// versions, then blocks of int32 length + raw snappy.
func xerialDecode(data []byte) ([]byte, error) {
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
		blk, err := s2.Decode(nil, data[4:4+n])
		if err != nil {
			return nil, err
		}
		out = append(out, blk...)
		data = data[4+n:]
	}
	return out, nil
}
