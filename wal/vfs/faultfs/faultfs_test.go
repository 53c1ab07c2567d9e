package faultfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chronik/chronik/wal/vfs"
)

// TestFaultsApplyWhileSetAndStopWhenOff: each mode faults exactly the
// operations it names, the OS file keeps its optional interfaces (mmap,
// madvise, fallocate, the descriptor for sendfile), and Off restores the
// disk.
func TestFaultsApplyWhileSetAndStopWhenOff(t *testing.T) {
	dir := t.TempDir()
	f := New(vfs.OS())
	fl, err := f.OpenFile(filepath.Join(dir, "seg"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	for _, iface := range []any{fl.(vfs.Mmapper), fl.(vfs.RandomAdvisor), fl.(vfs.Allocator), fl.(vfs.Fder)} {
		_ = iface // the assertions above panic if an interface was lost
	}
	write := func() error { _, err := fl.WriteAt([]byte("x"), 0); return err }
	check := func(what string, err error, want bool) {
		t.Helper()
		if got := errors.Is(err, syscall.EIO); got != want {
			t.Fatalf("%s: err %v, want EIO %v", what, err, want)
		}
	}
	check("write, off", write(), false)
	check("sync, off", fl.Sync(), false)

	f.Set(FailSync, 0)
	check("write, fsync", write(), false)
	check("sync, fsync", fl.Sync(), true)
	check("syncdir, fsync", f.SyncDir(dir), true)
	check("syncfs, fsync", f.SyncFS(dir), true)

	f.Set(FailWrite, 0)
	check("write, write", write(), true)
	check("sync, write", fl.Sync(), true)

	if err := f.Set(Slow, 0); err == nil {
		t.Fatal("slow without a delay accepted")
	}
	f.Set(Slow, 30*time.Millisecond)
	start := time.Now()
	check("sync, slow", fl.Sync(), false)
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("slow sync took %v, want >= 30ms", d)
	}

	f.Set(Off, 0)
	check("write, off again", write(), false)
	check("sync, off again", fl.Sync(), false)
	if m, _, n := f.State(); m != Off || n != 6 {
		t.Fatalf("state %v, %d injected; want off, 6", m, n)
	}
	for _, s := range []string{"off", "fsync", "write", "slow"} {
		if m, err := ParseMode(s); err != nil || m.String() != s {
			t.Fatalf("ParseMode(%q) = %v, %v", s, m, err)
		}
	}
}
