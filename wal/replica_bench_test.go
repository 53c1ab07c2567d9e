package wal

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/chronik/chronik/wal/vfs/memfs"
	"golang.org/x/sys/unix"
)

// benchLog opens a log for a benchmark on the named FS ("os" or "mem").
func benchLog(b *testing.B, fsName string, opts Options) *Log {
	b.Helper()
	var fsys FS = memfs.New()
	dir := "/bench"
	if fsName == "os" {
		fsys, dir = OSFS(), filepath.Join(b.TempDir(), "p")
	}
	l, err := Open(fsys, dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Delete() })
	return l
}

// BenchmarkAppendReplica compares a follower's AppendReplica with the
// leader's Append for the same batches (10 records of 100 B): api=append
// is one Append per batch; api=replica/batches=N one AppendReplica of N
// batches, as a fetch response carries them (CRC32C checked, one pwrite
// per segment). Each op is one batch; records/s counts records.
func BenchmarkAppendReplica(b *testing.B) {
	for _, fsName := range []string{"mem", "os"} {
		b.Run(fmt.Sprintf("fs=%s/api=append", fsName), func(b *testing.B) {
			l := benchLog(b, fsName, Options{SegmentBytes: 64 << 20})
			batch := makeBatch(10, 100, 0)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Append(batch, 3); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(10*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
		for _, per := range []int{1, 16} {
			b.Run(fmt.Sprintf("fs=%s/api=replica/batches=%d", fsName, per), func(b *testing.B) {
				benchAppendReplica(b, fsName, per)
			})
		}
	}
}

func benchAppendReplica(b *testing.B, fsName string, per int) {
	l := benchLog(b, fsName, Options{SegmentBytes: 64 << 20})
	one := makeBatch(10, 100, 0)
	SetLeaderEpoch(one, 3)
	run := make([]byte, 0, per*len(one))
	for range per {
		run = append(run, one...)
	}
	hs := make([]BatchHeader, 0, per)
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += per {
		for j := range per { // the leader's offsets: 8 bytes outside the CRC
			SetBaseOffset(run[j*len(one):], l.LogEndOffset()+int64(10*j))
		}
		var err error
		if hs, err = l.AppendReplica(run, hs[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(l.LogEndOffset())/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkTruncateTo measures a follower's truncation of its last 10
// batches (1 KiB each) on real files: in place (ftruncate + fdatasync),
// in place across segments (later segments deleted, recovery point
// lowered), and with a View pinning the removed bytes, which copies the
// kept part of the segment (kept-bytes) into a new file. The removed
// batches are appended again and synced between ops, off the clock.
func BenchmarkTruncateTo(b *testing.B) {
	for _, c := range []struct {
		name               string
		segBytes, logBytes int64
		cutBatches         int
		pin                bool
	}{
		{"in-place/segment=16MiB", 64 << 20, 16 << 20, 10, false},
		{"in-place/3-later-segments", 4 << 20, 16 << 20, 3*4096 + 10, false},
		{"copy/segment=1MiB", 64 << 20, 1 << 20, 10, true},
		{"copy/segment=16MiB", 64 << 20, 16 << 20, 10, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			l := benchLog(b, "os", Options{SegmentBytes: c.segBytes})
			batch := makeBatch(1, 1024-BatchHeaderSize-8, 0)
			for range c.logBytes / int64(len(batch)) {
				if _, err := l.Append(batch, 0); err != nil {
					b.Fatal(err)
				}
			}
			syncNow(b, l) // each op then syncs what it changed, not the whole log
			cut := l.LogEndOffset() - int64(c.cutBatches)
			tail, err := l.Read(cut, 1<<30, l.LogEndOffset())
			if err != nil {
				b.Fatal(err)
			}
			var v View
			var kept, dropped int64
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				if c.pin {
					if err := l.ReadView(cut, 1<<20, l.LogEndOffset(), &v); err != nil {
						b.Fatal(err)
					}
				}
				segs := l.NumSegments()
				b.StartTimer()
				if err := l.TruncateTo(cut); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				kept, dropped = l.active().size.Load(), int64(segs-l.NumSegments())
				v.Release()
				if _, err := l.AppendReplica(tail, nil); err != nil {
					b.Fatal(err)
				}
				syncNow(b, l)
				b.StartTimer()
			}
			b.ReportMetric(float64(kept), "kept-bytes")
			b.ReportMetric(float64(dropped), "segments-deleted")
			b.ReportMetric(float64(l.Stats().TruncationCopies)/float64(b.N), "copies/op")
		})
	}
}

// BenchmarkSendToSocket sends fetches of maxBytes of 1 KiB batches from a
// 64 MiB log (in the page cache) to a loopback TCP socket, three ways:
// api=copy is Read then write(2) (the bytes pass through a user buffer:
// B/op); api=writev is ReadView, the mapped slices written with writev(2);
// api=sendfile is ReadRanges, each range sent with sendfile(2). The other
// end reads and discards. Compare MB/s within one run.
func BenchmarkSendToSocket(b *testing.B) {
	for _, maxBytes := range []int32{64 << 10, 1 << 20} {
		for _, api := range []string{"copy", "writev", "sendfile"} {
			b.Run(fmt.Sprintf("maxBytes=%d/api=%s", maxBytes, api), func(b *testing.B) {
				benchSend(b, api, maxBytes)
			})
		}
	}
}

func benchSend(b *testing.B, api string, maxBytes int32) {
	l := benchLog(b, "os", Options{SegmentBytes: 16 << 20})
	batch := makeBatch(4, 250-8, 0)
	for range (64 << 20) / len(batch) {
		if _, err := l.Append(batch, 0); err != nil {
			b.Fatal(err)
		}
	}
	conn, raw := loopbackSink(b)
	leo := l.LogEndOffset()
	var v View
	var r Ranges
	var iov net.Buffers
	var sent int64
	off := int64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var err error
		switch api {
		case "copy":
			var buf []byte
			if buf, err = l.Read(off, maxBytes, leo); err == nil {
				_, err = conn.Write(buf)
				sent += int64(len(buf))
			}
		case "writev":
			if err = l.ReadView(off, maxBytes, leo, &v); err == nil {
				iov = append(iov[:0], v.Slices...)
				_, err = iov.WriteTo(conn)
				sent += v.Len
			}
			v.Release()
		case "sendfile":
			if err = l.ReadRanges(off, maxBytes, leo, &r); err == nil {
				err = sendfileAll(raw, &r)
				sent += r.Len
			}
			r.Release()
		}
		if err != nil {
			b.Fatal(err)
		}
		off = (off + 4*int64(maxBytes)/1024) % (leo - 4*int64(maxBytes)/1024)
	}
	b.SetBytes(sent / int64(max(b.N, 1)))
}

// loopbackSink connects to a loopback listener whose accepted end reads
// and discards everything; it returns the client end and its raw conn.
func loopbackSink(b *testing.B) (*net.TCPConn, syscall.RawConn) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		ln.Close()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	return c.(*net.TCPConn), raw
}

// sendfileAll sends every range of r on the non-blocking socket behind
// raw, waiting for it to be writable on EAGAIN, as netio would.
func sendfileAll(raw syscall.RawConn, r *Ranges) error {
	for _, rg := range r.Ranges {
		done := int64(0)
		var serr error
		err := raw.Write(func(fd uintptr) bool {
			for done < rg.Len {
				n, err := rg.Sendfile(int(fd), done)
				done += n
				if err == unix.EAGAIN {
					return false // wait until writable
				}
				if err != nil {
					serr = err
					return true
				}
			}
			return true
		})
		if err == nil {
			err = serr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
