package wal

import (
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
