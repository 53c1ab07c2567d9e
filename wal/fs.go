package wal

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/chronik/chronik/wal/vfs"
)

// The file system the log runs on (package vfs): every disk operation
// goes through FS. Tests pass a memfs.FS to inject errors and crash.
type (
	FS               = vfs.FS
	File             = vfs.File
	Mmapper          = vfs.Mmapper
	Allocator        = vfs.Allocator
	Fder             = vfs.Fder
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
