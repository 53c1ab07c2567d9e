package vfs

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOSFSAllocateReservesZeroTail(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	f, err := OS().OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteAt([]byte("abc"), 0)
	a := f.(Allocator)
	if err := a.Allocate(1 << 20); err != nil {
		t.Fatal(err)
	}
	if err := a.Allocate(10); err != nil { // never shrinks
		t.Fatal(err)
	}
	size, _ := f.Size()
	buf := make([]byte, 8)
	f.ReadAt(buf, 0)
	if size != 1<<20 || string(buf) != "abc\x00\x00\x00\x00\x00" {
		t.Fatalf("size %d head %q", size, buf)
	}
}
