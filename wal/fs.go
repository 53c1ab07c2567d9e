package wal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// FS is every directory and file operation the log performs. OSFS is the
// real one; MemFS is an in-memory one for tests that can inject errors and
// crash. Implementations must be safe for concurrent use.
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

// Mmapper is implemented by files that can be memory-mapped (OSFS files).
// Files that do not implement it are served through ReadAt and WriteAt.
type Mmapper interface {
	// Mmap maps the first length bytes of the file, shared.
	Mmap(length int, writable bool) ([]byte, error)
	// Munmap releases a mapping returned by Mmap.
	Munmap(b []byte) error
}

// Allocator is implemented by files that can reserve disk space ahead of
// writes (OSFS files: fallocate(2) mode 0; MemFS files emulate it).
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

// OSFS returns the FS of the operating system, built on x/sys/unix.
func OSFS() FS { return osFS{} }

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	for {
		fd, err := unix.Open(name, flag|unix.O_CLOEXEC, uint32(perm.Perm()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return &osFile{fd: fd, name: name}, nil
	}
}

func (osFS) Remove(name string) error                  { return os.Remove(name) }
func (osFS) RemoveAll(name string) error               { return os.RemoveAll(name) }
func (osFS) Rename(o, n string) error                  { return os.Rename(o, n) }
func (osFS) MkdirAll(n string, perm os.FileMode) error { return os.MkdirAll(n, perm) }
func (osFS) Stat(name string) (fs.FileInfo, error)     { return os.Stat(name) }

func (osFS) ReadDir(name string) ([]string, error) {
	ents, err := os.ReadDir(name)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) SyncDir(name string) error {
	fd, err := unix.Open(filepath.Clean(name), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open dir", Path: name, Err: err}
	}
	defer unix.Close(fd)
	if err := retryEINTR(func() error { return unix.Fsync(fd) }); err != nil {
		return &os.PathError{Op: "fsync dir", Path: name, Err: err}
	}
	return nil
}

// SyncFS implements FileSystemSyncer with syncfs(2) on the file system
// holding dir.
func (osFS) SyncFS(dir string) error {
	fd, err := unix.Open(filepath.Clean(dir), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open dir", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if err := retryEINTR(func() error { return unix.Syncfs(fd) }); err != nil {
		return &os.PathError{Op: "syncfs", Path: dir, Err: err}
	}
	return nil
}

type osFile struct {
	fd   int
	name string
}

func retryEINTR(f func() error) error {
	for {
		if err := f(); err != unix.EINTR {
			return err
		}
	}
}

func (f *osFile) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.Pread(f.fd, p[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, &os.PathError{Op: "pread", Path: f.name, Err: err}
		}
		if n == 0 {
			return done, io.EOF
		}
		done += n
	}
	return done, nil
}

func (f *osFile) WriteAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.Pwrite(f.fd, p[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, &os.PathError{Op: "pwrite", Path: f.name, Err: err}
		}
		if n == 0 {
			return done, &os.PathError{Op: "pwrite", Path: f.name, Err: io.ErrShortWrite}
		}
		done += n
	}
	return done, nil
}

func (f *osFile) Sync() error {
	if err := retryEINTR(func() error { return unix.Fdatasync(f.fd) }); err != nil {
		return &os.PathError{Op: "fdatasync", Path: f.name, Err: err}
	}
	return nil
}

func (f *osFile) Truncate(size int64) error {
	if err := retryEINTR(func() error { return unix.Ftruncate(f.fd, size) }); err != nil {
		return &os.PathError{Op: "ftruncate", Path: f.name, Err: err}
	}
	return nil
}

func (f *osFile) Size() (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return 0, &os.PathError{Op: "fstat", Path: f.name, Err: err}
	}
	return st.Size, nil
}

func (f *osFile) Close() error {
	if f.fd < 0 {
		return &os.PathError{Op: "close", Path: f.name, Err: os.ErrClosed}
	}
	err := unix.Close(f.fd)
	f.fd = -1
	if err != nil {
		return &os.PathError{Op: "close", Path: f.name, Err: err}
	}
	return nil
}

// Allocate implements Allocator with fallocate(2) mode 0 (blocks reserved,
// size extended, reads zero). File systems without fallocate get the size
// by ftruncate instead (sparse: same zero tail, no reservation).
func (f *osFile) Allocate(size int64) error {
	err := retryEINTR(func() error { return unix.Fallocate(f.fd, 0, 0, size) })
	if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
		cur, serr := f.Size()
		if serr != nil || cur >= size {
			return serr
		}
		return f.Truncate(size)
	}
	if err != nil {
		return &os.PathError{Op: "fallocate", Path: f.name, Err: err}
	}
	return nil
}

func (f *osFile) Fd() uintptr { return uintptr(f.fd) }

func (f *osFile) Mmap(length int, writable bool) ([]byte, error) {
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	b, err := unix.Mmap(f.fd, 0, length, prot, unix.MAP_SHARED)
	if err != nil {
		return nil, &os.PathError{Op: "mmap", Path: f.name, Err: err}
	}
	return b, nil
}

func (f *osFile) Munmap(b []byte) error {
	if err := unix.Munmap(b); err != nil {
		return &os.PathError{Op: "munmap", Path: f.name, Err: err}
	}
	return nil
}

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
