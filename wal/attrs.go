package wal

// Attribute bits of a v2 RecordBatch (the attributes field of the header).
const (
	AttrCompressionMask = 0x07 // 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd
	AttrLogAppendTime   = 0x08 // timestamps are the broker's append time
	AttrTransactional   = 0x10
	AttrControl         = 0x20 // a transaction marker, not user records
)

// IsControl reports whether the batch holds control records.
func (h BatchHeader) IsControl() bool { return h.Attributes&AttrControl != 0 }
