package engine

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/chronik/chronik/wal"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// firstRecordAtOrAfter searches the first batch of recs for the first record
// whose timestamp is >= target and returns its offset and timestamp. For
// LogAppendTime batches every record carries the batch's max timestamp.
func firstRecordAtOrAfter(recs []byte, target int64) (int64, int64, bool) {
	h, err := wal.ParseBatchHeader(recs)
	if err != nil || h.Size() > int64(len(recs)) {
		return -1, -1, false
	}
	if h.Attributes&attrLogAppendTime != 0 {
		return h.BaseOffset, h.MaxTimestamp, h.MaxTimestamp >= target
	}
	body, err := decompress(h.Attributes&attrCompressionMask, recs[wal.BatchHeaderSize:h.Size()])
	if err != nil {
		return -1, -1, false
	}
	for i := int32(0); i < h.RecordCount; i++ {
		n, w := binary.Varint(body)
		if w <= 0 || n < 3 || n > int64(len(body)-w) {
			return -1, -1, false
		}
		rec := body[w+1 : w+int(n)]
		body = body[w+int(n):]
		td, tw := binary.Varint(rec)
		od, ow := binary.Varint(rec[max(tw, 0):])
		if tw <= 0 || ow <= 0 {
			return -1, -1, false
		}
		if ts := h.BaseTimestamp + td; ts >= target {
			return h.BaseOffset + od, ts, true
		}
	}
	return -1, -1, false
}

// xerialHeader starts snappy data in the xerial framing some producers use.
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// decompress undoes a batch's compression codec (0 none, 1 gzip, 2 snappy
// raw or xerial-framed, 3 lz4 frame, 4 zstd). Only off the hot path.
func decompress(codec int16, data []byte) ([]byte, error) {
	switch codec {
	case 0:
		return data, nil
	case 1:
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	case 2:
		if !bytes.HasPrefix(data, xerialHeader) {
			return s2.Decode(nil, data)
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
	case 3:
		return io.ReadAll(lz4.NewReader(bytes.NewReader(data)))
	case 4:
		d, err := zstd.NewReader(nil)
		if err != nil {
			return nil, err
		}
		defer d.Close()
		return d.DecodeAll(data, nil)
	}
	return nil, fmt.Errorf("unknown compression codec %d", codec)
}
