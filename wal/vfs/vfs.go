// Package vfs is the file system interface the write-ahead log (package
// wal) performs all its disk operations through, and OS, the real one on
// x/sys/unix. Tests use package memfs, an in-memory FS that injects errors
// and simulates crashes; shipped binaries never link it.
//
// vfs imports no other package of Chronik's.
package vfs

import (
	"io"
	"io/fs"
	"os"
)

// FS is every directory and file operation the log performs. OS is the
// real one; memfs.FS is an in-memory one for tests that can inject errors
// and crash. Implementations must be safe for concurrent use.
type FS interface {
	// OpenFile opens name with os.O_* flags (O_CREATE, O_RDWR, O_EXCL, ...).
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	RemoveAll(name string) error
	Rename(oldpath, newpath string) error
	MkdirAll(name string, perm os.FileMode) error
	// ReadDir returns the names in directory name, sorted.
	ReadDir(name string) ([]string, error)
	Stat(name string) (fs.FileInfo, error)
	// SyncDir makes the directory's entries (creates, removes, renames)
	// durable.
	SyncDir(name string) error
}

// File is an open file. ReadAt and WriteAt are positional (pread/pwrite) and
// safe for concurrent use at distinct ranges.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Sync makes the file's data durable (fdatasync).
	Sync() error
	Truncate(size int64) error
	Size() (int64, error)
	Close() error
}

// Mmapper is implemented by files that can be memory-mapped (OS files).
// Files that do not implement it are served through ReadAt and WriteAt.
type Mmapper interface {
	// Mmap maps the first length bytes of the file, shared. The mapping
	// stays valid after the file is closed.
	Mmap(length int, writable bool) ([]byte, error)
	// Munmap releases a mapping returned by Mmap, also once the file is
	// closed.
	Munmap(b []byte) error
}

// RandomAdvisor is implemented by files whose mappings take advice on how
// they are accessed (OS files: madvise(2)).
type RandomAdvisor interface {
	// AdviseRandom says that b, a mapping returned by Mmap, is accessed at
	// random (MADV_RANDOM): a page fault brings in that page alone, with
	// no read-ahead around it.
	AdviseRandom(b []byte) error
}

// Allocator is implemented by files that can reserve disk space ahead of
// writes (OS files: fallocate(2) mode 0; memfs files emulate it).
// Allocate makes the file at least size bytes long; the bytes it adds read
// as zeros, and it never shrinks the file. Writing into allocated space
// does not change the file size, so fdatasync need not journal a size
// change for every append. The log keeps its own logical end: the zero
// tail after it is not data (see Recovery in doc.go).
type Allocator interface {
	Allocate(size int64) error
}

// Fder is implemented by files backed by a kernel file descriptor (OSFS
// files), for callers that want sendfile or their own mmap.
type Fder interface {
	Fd() uintptr
}

// FileSystemSyncer is implemented by FSs that can flush a whole file
// system in one call (syncfs(2) for OS; memfs syncs every file).
type FileSystemSyncer interface {
	SyncFS(dir string) error
}
