package wal

import (
	"bytes"
	"path/filepath"
	"testing"
)

func openOS(t *testing.T, opts Options) *Log {
	t.Helper()
	l, err := Open(OSFS(), filepath.Join(t.TempDir(), "t-0"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func joinView(v *View) []byte {
	var out []byte
	for _, s := range v.Slices {
		out = append(out, s...)
	}
	return out
}

// ReadView and ReadRanges serve exactly the batches Read copies.
func TestReadViewAndReadRangesServeTheSameBytesAsRead(t *testing.T) {
	for _, name := range []string{"os", "mem"} {
		t.Run(name, func(t *testing.T) {
			opts := Options{SegmentBytes: 3000, IndexIntervalBytes: 300}
			var l *Log
			if name == "os" {
				l = openOS(t, opts)
			} else {
				l, _ = openMem(t, opts)
			}
			defer l.Close()
			for i := range 120 {
				mustAppend(t, l, makeBatch(1+i%4, 10+i%90, int64(i)), 0)
			}
			leo := l.LogEndOffset()
			var v View
			var r Ranges
			for off := int64(0); off <= leo; off += 7 {
				for _, maxBytes := range []int32{0, 1, 100, 700, 5000, 1 << 20} {
					for _, hw := range []int64{leo, off + 3, leo - 50} {
						want, werr := l.Read(off, maxBytes, hw)
						verr := l.ReadView(off, maxBytes, hw, &v)
						rerr := l.ReadRanges(off, maxBytes, hw, &r)
						view, ranges := joinView(&v), joinRanges(t, &r)
						if (werr == nil) != (verr == nil) || (werr == nil) != (rerr == nil) ||
							!bytes.Equal(view, want) || v.Len != int64(len(want)) ||
							!bytes.Equal(ranges, want) || r.Len != int64(len(want)) {
							t.Fatalf("off %d max %d hw %d: view %d bytes (%v), ranges %d (%v), read %d (%v)",
								off, maxBytes, hw, len(view), verr, len(ranges), rerr, len(want), werr)
						}
						v.Release()
						r.Release()
					}
				}
			}
		})
	}
}

func TestViewOutlivesDeletedSegmentAndIsUnmappedOnRelease(t *testing.T) {
	base := liveMappings.Load()
	clk := &fakeClock{ms: 1000}
	l := openOS(t, Options{SegmentBytes: 1000, RetentionMs: Retain(10), Now: clk.now})
	for i := range 30 {
		mustAppend(t, l, makeBatch(2, 50, int64(i)), 0)
	}
	var v View
	if err := l.ReadView(0, 1<<20, l.LogEndOffset(), &v); err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(joinView(&v))
	clk.ms = 1 << 40
	n, err := l.ApplyRetention(l.LogEndOffset())
	if err != nil || n == 0 || l.LogStartOffset() == 0 {
		t.Fatalf("retention deleted %d segments (log start %d): %v", n, l.LogStartOffset(), err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Every segment is closed and the deleted ones unlinked, yet the view
	// still reads its bytes (a SIGBUS or garbage would fail here).
	if got := joinView(&v); !bytes.Equal(got, want) {
		t.Fatal("view bytes changed after the segments were deleted")
	}
	if live := liveMappings.Load() - base; live == 0 {
		t.Fatal("mappings released while a view still pins them")
	}
	v.Release()
	if live := liveMappings.Load() - base; live != 0 {
		t.Fatalf("%d mappings left after the last release", live)
	}
}
