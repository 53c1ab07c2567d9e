package wal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/chronik/chronik/wal/vfs"
	"golang.org/x/sys/unix"
)

// A fresh index on the OS file system is sized sparse to MaxIndexBytes and
// mapped; its first append must fault in the page it writes, not read
// ahead over the holes (read_ahead_kb, 8 MiB on the reference box: 2.4 ms
// of CPU per fresh index, the cost of a partition's first appends).
func TestFreshIndexFirstAppendFaultsInLittle(t *testing.T) {
	x, err := newIndex(vfs.OS(), filepath.Join(t.TempDir(), "00000000000000000000.index"), offsetEntrySize, DefaultMaxIndexBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer x.close(false)
	if !x.mapped {
		t.Skip("index not memory-mapped on this file system")
	}
	if ok, err := x.append(make([]byte, offsetEntrySize)); err != nil || !ok {
		t.Fatalf("append: %v %v", ok, err)
	}
	page := unix.Getpagesize()
	vec := make([]byte, (len(x.buf)+page-1)/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&x.buf[0])), uintptr(len(x.buf)),
		uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal("mincore:", errno)
	}
	resident := 0
	for _, v := range vec {
		resident += int(v & 1)
	}
	// 16 pages: room for fault-around of the page written, none for read-ahead.
	if resident > 16 {
		t.Fatalf("%d of the index's %d pages resident after one append: the mapping reads ahead", resident, len(vec))
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(fds)
}

// On the OS file system a log keeps one descriptor per segment open (the
// .log file): its mapped indexes are closed and reopened by name for the
// rare operations that need them, and every such path still works: appends
// and index lookups, rolls (seal, trim, sync of the rolled indexes), Close
// (sync) and Open again.
func TestLogsHoldOneDescriptorPerSegment(t *testing.T) {
	const logs = 20
	base := t.TempDir()
	opts := Options{IndexIntervalBytes: 64, SegmentBytes: 4 << 10}
	before := openFDs(t)
	var ls []*Log
	var want [][]byte
	for i := 0; i < logs; i++ {
		l, err := Open(OSFS(), filepath.Join(base, fmt.Sprintf("p-%d", i)), opts)
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	if got := openFDs(t) - before; got != logs {
		t.Fatalf("%d logs hold %d descriptors, want one each", logs, got)
	}
	for i, l := range ls {
		batches := fillLog(t, l, 60, 100) // ~10 KiB: rolls at 4 KiB segments
		syncNow(t, l)
		if i == 0 {
			want = batches
		}
	}
	for _, l := range ls {
		if n := len(l.segments()); n < 3 {
			t.Fatalf("%d segments, want rolls", n)
		}
	}
	if got, max := openFDs(t)-before, logs*(len(ls[0].segments())+1); got > max {
		t.Fatalf("%d descriptors for %d logs of %d segments", got, logs, len(ls[0].segments()))
	}
	for _, l := range ls {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	l, err := Open(OSFS(), filepath.Join(base, "p-0"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.recovery.CleanShutdown {
		t.Fatal("Close left no clean marker")
	}
	if !bytes.Equal(readAll(t, l), bytes.Join(want, nil)) {
		t.Fatal("records differ after Close and Open")
	}
	got, err := l.Read(40, 1, l.LogEndOffset())
	if err != nil || batchOffsets(t, got)[0] != 40 {
		t.Fatalf("index lookup after reopen: %v %v", batchOffsets(t, got), err)
	}
}
