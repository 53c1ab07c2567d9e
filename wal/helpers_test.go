package wal

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/chronik/chronik/wal/vfs/memfs"
)

// makeBatch builds a valid uncompressed v2 RecordBatch of n records with
// values of valueSize bytes, timestamps ts, ts+1, ..., and base offset 0.
func makeBatch(n int, valueSize int, ts int64) []byte {
	var recs []byte
	for i := range n {
		var body []byte
		body = append(body, 0)                             // attributes
		body = binary.AppendVarint(body, int64(i))         // timestamp delta
		body = binary.AppendVarint(body, int64(i))         // offset delta
		body = binary.AppendVarint(body, -1)               // key length (null)
		body = binary.AppendVarint(body, int64(valueSize)) // value length
		for j := range valueSize {
			body = append(body, byte(i+j))
		}
		body = binary.AppendVarint(body, 0) // headers
		recs = binary.AppendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
	}
	b := make([]byte, BatchHeaderSize, BatchHeaderSize+len(recs))
	be := binary.BigEndian
	be.PutUint32(b[offBatchLength:], uint32(BatchHeaderSize-batchLengthOverhead+len(recs)))
	be.PutUint32(b[offLeaderEpoch:], 0xffffffff)
	b[offMagic] = 2
	be.PutUint32(b[offLastOffsetDelta:], uint32(n-1))
	be.PutUint64(b[offBaseTimestamp:], uint64(ts))
	be.PutUint64(b[offMaxTimestamp:], uint64(ts+int64(n-1)))
	be.PutUint64(b[offProducerID:], ^uint64(0))
	be.PutUint16(b[offProducerEpoch:], 0xffff)
	be.PutUint32(b[offBaseSequence:], 0xffffffff)
	be.PutUint32(b[offRecordCount:], uint32(n))
	b = append(b, recs...)
	be.PutUint32(b[offCRC:], CRC32C(b[offAttributes:]))
	return b
}

// fakeClock is a settable Options.Now.
type fakeClock struct{ ms int64 }

func (c *fakeClock) now() time.Time { return time.UnixMilli(c.ms) }

// openMem opens a log in a fresh memfs.FS.
func openMem(t testing.TB, opts Options) (*Log, *memfs.FS) {
	t.Helper()
	fsys := memfs.New()
	l, err := Open(fsys, "/data/t-0", opts)
	if err != nil {
		t.Fatal(err)
	}
	return l, fsys
}

func mustAppend(t testing.TB, l *Log, b []byte, epoch int32) int64 {
	t.Helper()
	off, err := l.Append(b, epoch)
	if err != nil {
		t.Fatal(err)
	}
	return off
}

// syncNow waits for a Sync through the LEO.
func syncNow(t testing.TB, l *Log) {
	t.Helper()
	ch := make(chan error, 1)
	l.Sync(l.LogEndOffset(), func(err error) { ch <- err })
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
}

// batchOffsets returns the base offsets of the batches in buf.
func batchOffsets(t testing.TB, buf []byte) []int64 {
	t.Helper()
	var offs []int64
	err := ForEachBatch(buf, func(h BatchHeader, b []byte) bool {
		if !CheckBatchCRC(b) {
			t.Fatalf("batch %d: bad crc", h.BaseOffset)
		}
		offs = append(offs, h.BaseOffset)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return offs
}

// crashOpen cuts the power under l (memfs Reboot, tearing unsynced writes
// with tear if not nil), closes the abandoned l and opens the log in what
// the crash left. It returns the new log and its file system.
func crashOpen(t testing.TB, fsys *memfs.FS, l *Log, opts Options, tear *rand.Rand) (*Log, *memfs.FS) {
	t.Helper()
	after := fsys.Reboot(tear)
	l.Close()
	l2, err := Open(after, "/data/t-0", opts)
	if err != nil {
		t.Fatal(err)
	}
	return l2, after
}
