package main

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronik/chronik/wal"
)

// testBatch builds a valid uncompressed v2 batch of n records.
func testBatch(n int) []byte {
	var recs []byte
	for i := range n {
		r := []byte{0}
		r = binary.AppendVarint(r, int64(i))
		r = binary.AppendVarint(r, int64(i))
		r = binary.AppendVarint(r, -1)
		r = binary.AppendVarint(r, 3)
		r = append(r, 'a', 'b', byte(i))
		r = binary.AppendVarint(r, 0)
		recs = binary.AppendVarint(recs, int64(len(r)))
		recs = append(recs, r...)
	}
	b := make([]byte, 61, 61+len(recs))
	be := binary.BigEndian
	be.PutUint32(b[8:], uint32(49+len(recs)))
	b[16] = 2
	be.PutUint32(b[23:], uint32(n-1))
	be.PutUint64(b[43:], ^uint64(0))
	be.PutUint16(b[51:], 0xffff)
	be.PutUint32(b[53:], 0xffffffff)
	be.PutUint32(b[57:], uint32(n))
	b = append(b, recs...)
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// writeLog creates a closed partition log of batches in dir/name.
func writeLog(t *testing.T, dir, name string, batches int) string {
	t.Helper()
	p := filepath.Join(dir, name)
	l, err := wal.Open(wal.OSFS(), p, wal.Options{SegmentBytes: 1024, IndexIntervalBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := range batches {
		if _, err := l.Append(testBatch(1+i%3), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func runWalCmd(args ...string) (int, string) {
	var out, errOut bytes.Buffer
	code := walMain(args, &out, &errOut)
	return code, out.String() + errOut.String()
}

func TestWalVerifyAndDumpHealthyDataDir(t *testing.T) {
	data := t.TempDir()
	writeLog(t, data, "a-0", 40)
	writeLog(t, data, "b-1", 5)
	code, out := runWalCmd("verify", data)
	if code != 0 || strings.Count(out, "OK ") != 2 || strings.Contains(out, "PROBLEM") {
		t.Fatalf("verify exit %d:\n%s", code, out)
	}
	code, out = runWalCmd("dump", filepath.Join(data, "b-1"))
	if code != 0 || strings.Count(out, "crc=ok") != 5 || !strings.Contains(out, "offsets=0..0 ") ||
		!strings.Contains(out, "clean_shutdown=true") {
		t.Fatalf("dump exit %d:\n%s", code, out)
	}
}

func TestWalVerifyReportsCorruptionAndTornTail(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		damage     func(seg string, size int64)
	}{
		{"flipped byte", "crc mismatch", func(seg string, size int64) { patchFile(t, seg, size-3, []byte{0x5a}) }},
		{"torn tail", "bad batch at position", func(seg string, size int64) { patchFile(t, seg, size, []byte{0, 0, 0, 0, 0, 0, 0, 9, 0, 0}) }},
		{"lost index", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeLog(t, t.TempDir(), "t-0", 3)
			seg := filepath.Join(p, "00000000000000000000.log")
			st, err := os.Stat(seg)
			if err != nil {
				t.Fatal(err)
			}
			if tc.damage == nil { // an index may be missing: Open rebuilds it silently
				os.Remove(filepath.Join(p, "00000000000000000000.index"))
				if code, out := runWalCmd("verify", p); code != 0 {
					t.Fatalf("verify exit %d with a missing index:\n%s", code, out)
				}
				return
			}
			tc.damage(seg, st.Size())
			code, out := runWalCmd("verify", p)
			if code != 1 || !strings.Contains(out, tc.want) || !strings.Contains(out, "FAILED") {
				t.Fatalf("verify exit %d, want 1 and %q:\n%s", code, tc.want, out)
			}
		})
	}
}

func patchFile(t *testing.T, name string, at int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

func TestWalUsageErrors(t *testing.T) {
	if code, _ := runWalCmd("fix", "x"); code != 2 {
		t.Fatalf("unknown subcommand: exit %d", code)
	}
	if code, out := runWalCmd("verify", t.TempDir()); code != 1 || !strings.Contains(out, "no segment files") {
		t.Fatalf("empty dir: exit %d %s", code, out)
	}
}

func TestWalCompareFindsIdenticalReplicasAndTheFirstDifference(t *testing.T) {
	dataA, dataB := t.TempDir(), t.TempDir()
	writeLog(t, dataA, "a-0", 40)
	writeLog(t, dataB, "a-0", 40)
	writeLog(t, dataA, "only-0", 3)
	if code, out := runWalCmd("compare", dataA, dataB); code != 0 || !strings.Contains(out, "IDENTICAL a-0") ||
		!strings.Contains(out, "IDENTICAL: 1 partitions") || !strings.Contains(out, "only-0 (not compared)") {
		t.Fatalf("identical replicas: exit %d:\n%s", code, out)
	}
	writeLog(t, dataA, "b-1", 40) // the follower is 10 batches behind
	writeLog(t, dataB, "b-1", 30)
	code, out := runWalCmd("compare", dataA, dataB)
	if code != 1 || !strings.Contains(out, "ONLY A b-1: offsets 60..78") || !strings.Contains(out, "DIFFERENT: 1 of 2 partitions") {
		t.Fatalf("a replica behind: exit %d:\n%s", code, out)
	}
	// The second batch (offsets 1..2) under another leader epoch, as
	// replicas that diverged: partitionLeaderEpoch is outside the CRC.
	seg := filepath.Join(dataB, "a-0", "00000000000000000000.log")
	first := int64(len(testBatch(1)))
	patchFile(t, seg, first+12, []byte{0, 0, 0, 7})
	code, out = runWalCmd("compare", filepath.Join(dataA, "a-0"), filepath.Join(dataB, "a-0"))
	if code != 1 || !strings.Contains(out, "DIFF a-0 at offset 1: partitionLeaderEpoch 0 vs 7") {
		t.Fatalf("another epoch: exit %d:\n%s", code, out)
	}
}

func TestWalCompareUsageErrors(t *testing.T) {
	if code, _ := runWalCmd("compare", t.TempDir()); code != 2 {
		t.Fatalf("one directory: exit %d", code)
	}
	data := t.TempDir()
	p := writeLog(t, data, "a-0", 2)
	if code, out := runWalCmd("compare", data, p); code != 1 || !strings.Contains(out, "one is a partition directory") {
		t.Fatalf("a data directory and a partition directory: exit %d %s", code, out)
	}
}
