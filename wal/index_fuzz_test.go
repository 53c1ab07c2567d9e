package wal

import (
	"encoding/binary"
	"testing"

	"github.com/chronik/chronik/wal/vfs/memfs"
)

// FuzzIndexLookup builds offset and time indexes from arbitrary increasing
// deltas (through the real append path, heap and mmap-less) and checks
// every lookup against a linear scan, including after a reopen from the
// file, and that the sanity checks accept what append wrote.
func FuzzIndexLookup(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, uint32(3), int64(5))
	f.Add([]byte{}, uint32(0), int64(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 1, 1, 1}, uint32(1<<31), int64(-1))
	f.Fuzz(func(t *testing.T, deltas []byte, probe uint32, probeTs int64) {
		fsys := memfs.New()
		fsys.MkdirAll("/x", 0o755)
		const maxBytes = 64 * timeEntrySize
		idx, err := openIndex(fsys, "/x/i", offsetEntrySize, maxBytes, true)
		if err != nil {
			t.Fatal(err)
		}
		tidx, err := openIndex(fsys, "/x/t", timeEntrySize, maxBytes, true)
		if err != nil {
			t.Fatal(err)
		}
		var rels, poss []uint32
		var tss []int64
		rel, pos, ts := uint32(0), uint32(0), int64(-1<<40)
		for i := 0; i+4 <= len(deltas) && idx.room() > 0 && tidx.room() > 0; i += 4 {
			d := binary.BigEndian.Uint16(deltas[i:])
			rel, pos, ts = rel+uint32(d)+1, pos+uint32(deltas[i+2])+1, ts+int64(deltas[i+3])+1
			if _, err := idx.append(offsetEntry(rel, pos)); err != nil {
				t.Fatal(err)
			}
			if _, err := tidx.append(timeEntry(ts, rel)); err != nil {
				t.Fatal(err)
			}
			rels, poss, tss = append(rels, rel), append(poss, pos), append(tss, ts)
		}
		check := func(stage string) {
			wantPos, wantRel, wantOK := int64(0), uint32(0), false
			for i := range rels {
				if rels[i] <= probe {
					wantPos = int64(poss[i])
				}
				if tss[i] < probeTs {
					wantRel, wantOK = rels[i], true
				}
			}
			if got := idx.lookupOffset(probe); got != wantPos {
				t.Fatalf("%s: lookupOffset(%d) = %d, want %d", stage, probe, got, wantPos)
			}
			if got, ok := tidx.lookupTime(probeTs); got != wantRel || ok != wantOK {
				t.Fatalf("%s: lookupTime(%d) = %d %v, want %d %v", stage, probeTs, got, ok, wantRel, wantOK)
			}
			if err := idx.checkOffsetIndex(int64(pos)+1, int64(rel)+1); err != nil {
				t.Fatalf("%s: %v", stage, err)
			}
			if err := tidx.checkTimeIndex(int64(rel) + 1); err != nil {
				t.Fatalf("%s: %v", stage, err)
			}
		}
		check("appended")
		idx.close(true)
		tidx.close(true)
		if idx, err = openIndex(fsys, "/x/i", offsetEntrySize, maxBytes, false); err != nil {
			t.Fatal(err)
		}
		if tidx, err = openIndex(fsys, "/x/t", timeEntrySize, maxBytes, false); err != nil {
			t.Fatal(err)
		}
		check("reopened")
	})
}
