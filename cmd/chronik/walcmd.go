package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/chronik/chronik/wal"
)

// errVerifyFailed makes `chronik wal verify` exit 1 without more words.
var errVerifyFailed = errors.New("verify found problems")

const walUsage = `usage: chronik wal dump <dir>     print every segment, batch and index summary
       chronik wal verify <dir>   check batches (length, offsets, CRC32C) and indexes;
                                  exit 1 if anything would be cut or rebuilt at Open
<dir> is a partition directory (<data>/<topic>-<p>) or a data directory.
Both only read; run them on a stopped broker's directory or a copy.`

// walMain runs `chronik wal ...` and returns the exit status.
func walMain(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 || (args[0] != "dump" && args[0] != "verify") {
		fmt.Fprintln(stderr, walUsage)
		return 2
	}
	err := runWal(args[0], args[1], stdout)
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

// walCommand is main's entry for `chronik wal`.
func walCommand(args []string) { os.Exit(walMain(args, os.Stdout, os.Stderr)) }
