package wal

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/chronik/chronik/wal/vfs"
)

// The file system the log runs on, from package vfs: every disk operation
// goes through an FS. Tests pass a memfs.FS to inject errors and crash.
type (
	// FS is vfs.FS: directory and file operations.
	FS = vfs.FS
	// File is vfs.File: an open file, positional reads and writes.
	File = vfs.File
	// Mmapper is vfs.Mmapper: a File that can be memory-mapped.
	Mmapper = vfs.Mmapper
	// RandomAdvisor is vfs.RandomAdvisor: a File whose mappings take MADV_RANDOM.
	RandomAdvisor = vfs.RandomAdvisor
	// Allocator is vfs.Allocator: a File that can reserve space (fallocate).
	Allocator = vfs.Allocator
	// Fder is vfs.Fder: a File backed by a kernel file descriptor.
	Fder = vfs.Fder
	// FileSystemSyncer is vfs.FileSystemSyncer: an FS with syncfs(2).
	FileSystemSyncer = vfs.FileSystemSyncer
)

// OSFS returns the FS of the operating system (vfs.OS).
func OSFS() FS { return vfs.OS() }

// exists reports whether name exists, treating any Stat error other than
// not-exist as an error.
func exists(fsys FS, name string) (bool, error) {
	_, err := fsys.Stat(name)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, fmt.Errorf("stat %s: %w", name, err)
}
