// Package faultfs wraps a vfs.FS with disk faults that are switched on and
// off while the log runs: fdatasync (and syncfs, directory fsync) failing
// with EIO, pwrite failing too, or every sync taking longer. It is test
// support: only tests and bin/chronik-debug (build tag chronikdebug,
// engine/debug.go) link it, never the shipped broker.
//
// A fault applies to operations that start after Set; one already running
// finishes as it began. Reads, opens, renames and truncations are never
// faulted: a failing disk in this model still reads back what it holds.
package faultfs

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chronik/chronik/wal/vfs"
)

// Mode is the fault in force.
type Mode int32

const (
	// Off: every operation goes to the wrapped FS unchanged.
	Off Mode = iota
	// FailSync: file Sync (fdatasync), SyncDir and SyncFS fail with EIO
	// without syncing anything.
	FailSync
	// FailWrite: as FailSync, and WriteAt (pwrite) fails with EIO too,
	// writing nothing.
	FailWrite
	// Slow: every Sync, SyncDir and SyncFS sleeps the delay first.
	Slow
)

var modeNames = [...]string{Off: "off", FailSync: "fsync", FailWrite: "write", Slow: "slow"}

func (m Mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Sprintf("Mode(%d)", int32(m))
	}
	return modeNames[m]
}

// ParseMode is the inverse of Mode.String.
func ParseMode(s string) (Mode, error) {
	for m, n := range modeNames {
		if n == s {
			return Mode(m), nil
		}
	}
	return Off, fmt.Errorf("faultfs: unknown fault %q (want off, fsync, write or slow)", s)
}

// ErrInjected is the error an injected failure returns: EIO, as a failing
// disk reports it, so callers cannot tell it from a real one.
var ErrInjected error = syscall.EIO

// FS is a vfs.FS whose syncs and writes fail or slow down on demand. Safe
// for concurrent use.
type FS struct {
	vfs.FS
	mode     atomic.Int32
	delay    atomic.Int64 // ns, Slow
	injected atomic.Int64 // operations failed or delayed so far
}

// New wraps inner, with no fault in force.
func New(inner vfs.FS) *FS { return &FS{FS: inner} }

// Set puts mode in force; delay is the added time of each sync in Slow
// mode (ignored otherwise).
func (f *FS) Set(mode Mode, delay time.Duration) error {
	if mode < Off || mode > Slow {
		return fmt.Errorf("faultfs: %v", mode)
	}
	if mode == Slow && delay <= 0 {
		return fmt.Errorf("faultfs: slow needs a delay > 0, got %v", delay)
	}
	f.delay.Store(int64(delay))
	f.mode.Store(int32(mode))
	return nil
}

// State returns the fault in force, its delay and how many operations
// were failed or delayed so far.
func (f *FS) State() (Mode, time.Duration, int64) {
	return Mode(f.mode.Load()), time.Duration(f.delay.Load()), f.injected.Load()
}

// beforeSync applies the fault to a sync: an error to return instead of
// syncing, or a sleep.
func (f *FS) beforeSync() error {
	switch Mode(f.mode.Load()) {
	case FailSync, FailWrite:
		f.injected.Add(1)
		return ErrInjected
	case Slow:
		f.injected.Add(1)
		time.Sleep(time.Duration(f.delay.Load()))
	}
	return nil
}

// OpenFile opens name on the wrapped FS; the file's syncs and writes are
// faulted.
func (f *FS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	inner, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return wrap(f, inner), nil
}

// SyncDir fsyncs a directory unless a fault says otherwise.
func (f *FS) SyncDir(name string) error {
	if err := f.beforeSync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", name, err)
	}
	return f.FS.SyncDir(name)
}

// SyncFS is syncfs(2) of the wrapped FS (which must have it) unless a
// fault says otherwise.
func (f *FS) SyncFS(dir string) error {
	s, ok := f.FS.(vfs.FileSystemSyncer)
	if !ok {
		return fmt.Errorf("faultfs: %T has no SyncFS", f.FS)
	}
	if err := f.beforeSync(); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return s.SyncFS(dir)
}

// file is a faulted vfs.File.
type file struct {
	vfs.File
	fs *FS
}

func (x *file) Sync() error {
	if err := x.fs.beforeSync(); err != nil {
		return fmt.Errorf("fdatasync: %w", err)
	}
	return x.File.Sync()
}

func (x *file) WriteAt(p []byte, off int64) (int, error) {
	if Mode(x.fs.mode.Load()) == FailWrite {
		x.fs.injected.Add(1)
		return 0, fmt.Errorf("pwrite at %d: %w", off, ErrInjected)
	}
	return x.File.WriteAt(p, off)
}

// osFile is a faulted file whose inner file also maps (taking access
// advice), allocates and has a descriptor (an OS file): the log and the
// fetch path keep using those, so chronik-debug with no fault in force
// runs the disk as chronik does.
type osFile struct {
	*file
	m vfs.Mmapper
	r vfs.RandomAdvisor
	a vfs.Allocator
	d vfs.Fder
}

func (x osFile) Mmap(length int, writable bool) ([]byte, error) { return x.m.Mmap(length, writable) }
func (x osFile) Munmap(b []byte) error                          { return x.m.Munmap(b) }
func (x osFile) AdviseRandom(b []byte) error                    { return x.r.AdviseRandom(b) }
func (x osFile) Allocate(size int64) error                      { return x.a.Allocate(size) }
func (x osFile) Fd() uintptr                                    { return x.d.Fd() }

// allocFile is a faulted file that can allocate (a memfs file).
type allocFile struct {
	*file
	a vfs.Allocator
}

func (x allocFile) Allocate(size int64) error { return x.a.Allocate(size) }

// wrap returns inner faulted, keeping the optional interfaces of the two
// kinds of files the log runs on (OS and memfs).
func wrap(f *FS, inner vfs.File) vfs.File {
	x := &file{File: inner, fs: f}
	m, isM := inner.(vfs.Mmapper)
	r, isR := inner.(vfs.RandomAdvisor)
	a, isA := inner.(vfs.Allocator)
	d, isD := inner.(vfs.Fder)
	switch {
	case isM && isR && isA && isD:
		return osFile{file: x, m: m, r: r, a: a, d: d}
	case isA:
		return allocFile{file: x, a: a}
	default:
		return x
	}
}
