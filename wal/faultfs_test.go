package wal

import (
	"errors"
	"io/fs"
	"os"
	"sync"

	"github.com/chronik/chronik/wal/vfs/memfs"
)

// faultFS is a memfs.FS that dies at a chosen mutating operation: once
// armed with failAfter(n), the n-th create, write, sync, truncate,
// allocate, rename or remove fails, and so does every operation after it,
// as if the machine stopped there. The test then crashes the memfs.FS.
type faultFS struct {
	mem  *memfs.FS
	mu   sync.Mutex
	left int // mutating operations until the failure; 0: disarmed
	dead bool
}

var errDied = errors.New("faultfs: machine stopped here")

func newFaultFS() *faultFS { return &faultFS{mem: memfs.New()} }

func (f *faultFS) failAfter(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.left = n
}

func (f *faultFS) failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dead
}

// step accounts for one operation, mutating or not.
func (f *faultFS) step(mutating bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dead && mutating && f.left > 0 {
		f.left--
		f.dead = f.left == 0
	}
	if f.dead {
		return errDied
	}
	return nil
}

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if err := f.step(flag&(os.O_CREATE|os.O_TRUNC) != 0); err != nil {
		return nil, err
	}
	file, err := f.mem.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

func (f *faultFS) Remove(name string) error {
	if err := f.step(true); err != nil {
		return err
	}
	return f.mem.Remove(name)
}

func (f *faultFS) RemoveAll(name string) error {
	if err := f.step(true); err != nil {
		return err
	}
	return f.mem.RemoveAll(name)
}

func (f *faultFS) Rename(oldpath, newpath string) error {
	if err := f.step(true); err != nil {
		return err
	}
	return f.mem.Rename(oldpath, newpath)
}

func (f *faultFS) MkdirAll(name string, perm os.FileMode) error {
	if err := f.step(true); err != nil {
		return err
	}
	return f.mem.MkdirAll(name, perm)
}

func (f *faultFS) ReadDir(name string) ([]string, error) {
	if err := f.step(false); err != nil {
		return nil, err
	}
	return f.mem.ReadDir(name)
}

func (f *faultFS) Stat(name string) (fs.FileInfo, error) {
	if err := f.step(false); err != nil {
		return nil, err
	}
	return f.mem.Stat(name)
}

func (f *faultFS) SyncDir(name string) error {
	if err := f.step(true); err != nil {
		return err
	}
	return f.mem.SyncDir(name)
}

type faultFile struct {
	File
	fs *faultFS
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.step(true); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.step(false); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *faultFile) Sync() error {
	if err := f.fs.step(true); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if err := f.fs.step(true); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *faultFile) Allocate(size int64) error {
	if err := f.fs.step(true); err != nil {
		return err
	}
	return f.File.(Allocator).Allocate(size)
}
