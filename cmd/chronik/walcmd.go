package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/chronik/chronik/wal"
)

// errVerifyFailed makes `chronik wal verify` (and compare) exit 1 without
// more words.
var errVerifyFailed = errors.New("verify found problems")

const walUsage = `usage: chronik wal dump <dir>     print every segment, batch and index summary
       chronik wal verify <dir>   check batches (length, offsets, CRC32C) and indexes;
                                  exit 1 if anything would be cut or rebuilt at Open
       chronik wal compare <dirA> <dirB>
                                  compare two replicas batch by batch (offsets, length,
                                  leader epoch, CRC, bytes) from each one's log start;
                                  print the first difference per partition and the
                                  offsets only one side holds; exit 1 unless identical
<dir> is a partition directory (<data>/<topic>-<p>) or a data directory; compare
takes two of the same kind and compares the partition directories both hold.
All only read; run them on a stopped broker's directory or a copy (compare also
works on a live broker's, whose tail may move while it reads).`

// walMain runs `chronik wal ...` and returns the exit status.
func walMain(args []string, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) == 2 && (args[0] == "dump" || args[0] == "verify"):
		err = runWal(args[0], args[1], stdout)
	case len(args) == 3 && args[0] == "compare":
		err = runCompare(args[1], args[2], stdout)
	default:
		fmt.Fprintln(stderr, walUsage)
		return 2
	}
	switch {
	case errors.Is(err, errVerifyFailed):
		return 1
	case err != nil:
		fmt.Fprintln(stderr, "chronik wal:", err)
		return 1
	}
	return 0
}

func runWal(cmd, dir string, out io.Writer) error {
	fsys := wal.OSFS()
	dirs, err := wal.PartitionDirs(fsys, dir)
	if err != nil {
		return err
	}
	if len(dirs) == 0 {
		return fmt.Errorf("%s: no segment files here or in its subdirectories", dir)
	}
	failed := false
	for _, d := range dirs {
		var each func(wal.BatchInfo)
		if cmd == "dump" {
			fmt.Fprintf(out, "== %s\n", d)
			each = func(b wal.BatchInfo) { printBatch(out, b) }
		}
		rep, err := wal.InspectDir(fsys, d, each)
		if err != nil {
			return err
		}
		if cmd == "dump" {
			printDirReport(out, rep)
		}
		printVerdict(out, rep)
		failed = failed || !rep.OK()
	}
	if failed && cmd == "verify" {
		return errVerifyFailed
	}
	return nil
}

func printBatch(out io.Writer, b wal.BatchInfo) {
	h := b.Header
	crc := "ok"
	if !b.CRCOK {
		crc = "BAD"
	}
	fmt.Fprintf(out, "segment=%d pos=%d offsets=%d..%d size=%d epoch=%d records=%d attrs=%#x base_ts=%d max_ts=%d producer=%d epoch=%d seq=%d crc=%s\n",
		b.Segment, b.Pos, h.BaseOffset, h.LastOffset(), h.Size(), h.PartitionLeaderEpoch, h.RecordCount,
		h.Attributes, h.BaseTimestamp, h.MaxTimestamp, h.ProducerID, h.ProducerEpoch, h.BaseSequence, crc)
}

func printDirReport(out io.Writer, rep wal.DirReport) {
	fmt.Fprintf(out, "clean_shutdown=%v\n", rep.CleanMarker)
	for _, c := range rep.Checkpoints {
		fmt.Fprintln(out, c)
	}
	for _, s := range rep.Segments {
		fmt.Fprintf(out, "segment %s: %d bytes, %d valid, %d preallocated, %d batches, offsets %d..%d, %d index entries, %d time index entries\n",
			s.Path, s.Size, s.ValidBytes, s.ZeroTailBytes, s.Batches, s.Base, s.NextOffset, s.IndexEntries, s.TimeIndexEntries)
	}
}

func printVerdict(out io.Writer, rep wal.DirReport) {
	batches := 0
	for _, s := range rep.Segments {
		batches += s.Batches
		for _, p := range s.Problems {
			fmt.Fprintf(out, "PROBLEM %s: %s\n", s.Path, p)
		}
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(out, "PROBLEM %s: %s\n", rep.Dir, p)
	}
	verdict := "OK"
	if !rep.OK() {
		verdict = "FAILED"
	}
	fmt.Fprintf(out, "%s %s: %d segments, %d batches\n", verdict, rep.Dir, len(rep.Segments), batches)
}

// runCompare prints what wal.CompareDirs found and fails with
// errVerifyFailed unless every partition compared is identical.
func runCompare(a, b string, out io.Writer) error {
	rep, err := wal.CompareDirs(wal.OSFS(), a, b)
	if err != nil {
		return err
	}
	differ := 0
	for _, p := range rep.Partitions {
		printComparison(out, p)
		if !p.Equal() {
			differ++
		}
	}
	for _, n := range rep.OnlyInA {
		fmt.Fprintf(out, "only in %s: %s (not compared)\n", a, n)
	}
	for _, n := range rep.OnlyInB {
		fmt.Fprintf(out, "only in %s: %s (not compared)\n", b, n)
	}
	if differ > 0 {
		fmt.Fprintf(out, "DIFFERENT: %d of %d partitions\n", differ, len(rep.Partitions))
		return errVerifyFailed
	}
	fmt.Fprintf(out, "IDENTICAL: %d partitions\n", len(rep.Partitions))
	return nil
}

func printComparison(out io.Writer, p wal.PartitionComparison) {
	fmt.Fprintf(out, "== %s: A %s, B %s\n", p.Name, p.A, p.B)
	fmt.Fprintf(out, "A: log start %d, log end %d, %d batches; B: log start %d, log end %d, %d batches\n",
		p.LogStartA, p.EndA, p.BatchesA, p.LogStartB, p.EndB, p.BatchesB)
	if p.Diff != nil {
		fmt.Fprintf(out, "DIFF %s at offset %d: %s\n", p.Name, p.Diff.Offset, p.Diff.What)
	}
	for _, side := range []struct {
		name    string
		only    []wal.OffsetRange
		stopped string
		badCRC  int
	}{{"A", p.OnlyA, p.StoppedA, p.BadCRCA}, {"B", p.OnlyB, p.StoppedB, p.BadCRCB}} {
		for _, r := range side.only {
			fmt.Fprintf(out, "ONLY %s %s: offsets %d..%d\n", side.name, p.Name, r.From, r.To-1)
		}
		if side.stopped != "" {
			fmt.Fprintf(out, "NOTE %s %s: read stopped at a batch Open would cut: %s\n", side.name, p.Name, side.stopped)
		}
		if side.badCRC > 0 {
			fmt.Fprintf(out, "NOTE %s %s: %d batches do not match their CRC\n", side.name, p.Name, side.badCRC)
		}
	}
	verdict := "IDENTICAL"
	if !p.Equal() {
		verdict = "DIFFERENT"
	}
	fmt.Fprintf(out, "%s %s\n", verdict, p.Name)
}

// walCommand is main's entry for `chronik wal`.
func walCommand(args []string) { os.Exit(walMain(args, os.Stdout, os.Stderr)) }
