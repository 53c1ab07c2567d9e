package vfs

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// OS returns the FS of the operating system, built on x/sys/unix.
func OS() FS { return osFS{} }

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

func (f *osFile) AdviseRandom(b []byte) error {
	if err := unix.Madvise(b, unix.MADV_RANDOM); err != nil {
		return &os.PathError{Op: "madvise", Path: f.name, Err: err}
	}
	return nil
}

func (f *osFile) Munmap(b []byte) error {
	if err := unix.Munmap(b); err != nil {
		return &os.PathError{Op: "munmap", Path: f.name, Err: err}
	}
	return nil
}
