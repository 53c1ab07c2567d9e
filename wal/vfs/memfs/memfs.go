// Package memfs is an in-memory vfs.FS for tests (package wal's and
// others'): error injection per operation and path, crash and reboot that
// keep only what was made durable (optionally tearing the last writes), a
// sync delay to make group commit observable, and a sync counter. It is
// test support: shipped binaries must not link it.
package memfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronik/chronik/wal/vfs"
)

// FS is an in-memory vfs.FS. It keeps, per file, the bytes written and the
// bytes made durable by the last Sync, and per directory the entries made
// durable by the last SyncDir. Crash
// throws away everything not durable, as a power cut would. Directories
// themselves (MkdirAll) are durable at once, and so is RemoveAll.
//
// Errors can be injected per operation and path (InjectError). Every method
// is safe for concurrent use; one mutex serialises them all.
type FS struct {
	mu      sync.Mutex
	gen     uint64 // bumped by Crash; handles from older generations fail
	dirs    map[string]bool
	files   map[string]*memNode // the namespace as the process sees it
	durable map[string]*memNode // the namespace a crash would leave
	faults  []memFault
	syncs   int64
	dead    bool // Reboot returned a successor: every operation fails

	syncDelay atomic.Int64 // nanoseconds every Sync takes, like a disk's fdatasync
}

// SetSyncDelay makes every file Sync take at least d (outside the FS
// lock), as fdatasync does on a real disk. Tests use it so that group commit
// is observable whatever the scheduler does.
func (m *FS) SetSyncDelay(d time.Duration) { m.syncDelay.Store(int64(d)) }

// memNode is one file. Its size may exceed len(data): the bytes between
// are zeros not materialised (a Truncate or Allocate that grew the file),
// so a preallocated segment costs no memory until it is written.
type memNode struct {
	data       []byte // what reads see, up to size
	size       int64  // file size, >= len(data)
	synced     []byte // what survives Crash
	syncedSize int64
}

// sync makes the node's current contents what survives a crash.
func (n *memNode) sync() {
	n.synced = append(n.synced[:0], n.data...)
	n.syncedSize = n.size
}

// revert drops everything since the last sync.
func (n *memNode) revert() {
	n.data = append([]byte(nil), n.synced...)
	n.size = n.syncedSize
}

// setSize truncates or extends the file to size (zeros, not materialised).
func (n *memNode) setSize(size int64) {
	if size < int64(len(n.data)) {
		n.data = n.data[:size]
	}
	n.size = size
}

// torn returns the node a crash with torn writeback leaves: the synced
// bytes, except that a random prefix of the region written since the
// sync (from the first differing byte) reached the disk.
func (n *memNode) torn(tear *rand.Rand) *memNode {
	c := &memNode{data: bytes.Clone(n.synced), size: n.syncedSize}
	if tear != nil && len(n.data) >= len(n.synced) && !bytes.Equal(n.data, n.synced) {
		d := 0
		for d < len(n.synced) && n.data[d] == n.synced[d] {
			d++
		}
		keep := d + tear.IntN(len(n.data)-d+1)
		c.data = append(bytes.Clone(n.data[:keep]), n.synced[min(keep, len(n.synced)):]...)
		c.size = max(c.size, int64(len(c.data)))
	}
	if c.data == nil {
		c.data = []byte{}
	}
	c.sync()
	return c
}

type memFault struct {
	op, pathSubstring string
	err               error
}

// ErrCrashed is returned by FS file handles opened before a Crash.
var ErrCrashed = errors.New("memfs: file handle from before crash")

// Operation names accepted by FS.InjectError.
const (
	OpOpen     = "open"
	OpRead     = "read"
	OpWrite    = "write"
	OpSync     = "sync"
	OpTruncate = "truncate"
	OpClose    = "close"
	OpRemove   = "remove"
	OpRename   = "rename"
	OpMkdir    = "mkdir"
	OpReadDir  = "readdir"
	OpStat     = "stat"
	OpSyncDir  = "syncdir"
	OpAllocate = "allocate"
)

// New returns an empty FS holding only the root directory "/".
func New() *FS {
	return &FS{
		dirs:    map[string]bool{"/": true, ".": true},
		files:   map[string]*memNode{},
		durable: map[string]*memNode{},
	}
}

// InjectError makes every later op (one of the Op* names) on a path
// containing pathSubstring fail with err, until ClearErrors.
func (m *FS) InjectError(op, pathSubstring string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults = append(m.faults, memFault{op: op, pathSubstring: pathSubstring, err: err})
}

// ClearErrors removes every injected error.
func (m *FS) ClearErrors() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults = nil
}

// Syncs counts successful File.Sync calls so far.
func (m *FS) Syncs() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncs
}

// Crash simulates a power cut: every file reverts to its bytes as of its
// last Sync, every directory to its entries as of its last SyncDir, and all
// open handles start failing with ErrCrashed.
func (m *FS) Crash() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	m.files = make(map[string]*memNode, len(m.durable))
	for name, n := range m.durable {
		n.revert()
		m.files[name] = n
	}
}

// Reboot simulates a power cut and a restart: m is dead from then on
// (every operation on it or its open files fails with ErrCrashed, so
// goroutines of the abandoned process cannot touch the successor), and the
// returned FS holds what a crash leaves: for every entry made durable
// by SyncDir, its bytes as of its last Sync. With tear non-nil, each file
// that was written to (not shrunk) since that Sync also keeps a random
// prefix of the bytes written since, counted from the first byte that
// differs, as when writeback had started: the last write torn at any
// byte, in a preallocated zero tail as well as past the end. Injected errors are not carried over.
func (m *FS) Reboot(tear *rand.Rand) *FS {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dead = true
	n := New()
	maps.Copy(n.dirs, m.dirs)
	for name, node := range m.durable {
		c := node.torn(tear)
		n.files[name], n.durable[name] = c, c
	}
	return n
}

// fault returns the injected error for op on name, if any. Callers hold mu.
func (m *FS) fault(op, name string) error {
	if m.dead {
		return &os.PathError{Op: op, Path: name, Err: ErrCrashed}
	}
	for _, f := range m.faults {
		if f.op == op && strings.Contains(name, f.pathSubstring) {
			return &os.PathError{Op: op, Path: name, Err: f.err}
		}
	}
	return nil
}

func clean(name string) string { return path.Clean(name) }

// OpenFile implements vfs.FS.
func (m *FS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = clean(name)
	if err := m.fault(OpOpen, name); err != nil {
		return nil, err
	}
	n, ok := m.files[name]
	switch {
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &os.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case !ok && flag&os.O_CREATE == 0:
		return nil, &os.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case !ok && !m.dirs[path.Dir(name)]:
		return nil, &os.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case !ok:
		n = &memNode{}
		m.files[name] = n
	}
	if flag&os.O_TRUNC != 0 {
		n.setSize(0)
	}
	return &memFile{fs: m, node: n, name: name, gen: m.gen,
		writable: flag&(os.O_WRONLY|os.O_RDWR) != 0}, nil
}

// Remove implements vfs.FS.
func (m *FS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = clean(name)
	if err := m.fault(OpRemove, name); err != nil {
		return err
	}
	if _, ok := m.files[name]; ok {
		delete(m.files, name)
		return nil
	}
	if m.dirs[name] {
		for f := range m.files {
			if path.Dir(f) == name {
				return &os.PathError{Op: "remove", Path: name, Err: errors.New("directory not empty")}
			}
		}
		delete(m.dirs, name)
		return nil
	}
	return &os.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
}

// RemoveAll implements vfs.FS. It is durable at once.
func (m *FS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = clean(name)
	if err := m.fault(OpRemove, name); err != nil {
		return err
	}
	under := func(p string) bool { return p == name || strings.HasPrefix(p, name+"/") }
	for _, ns := range []map[string]*memNode{m.files, m.durable} {
		for p := range ns {
			if under(p) {
				delete(ns, p)
			}
		}
	}
	for d := range m.dirs {
		if under(d) {
			delete(m.dirs, d)
		}
	}
	return nil
}

// Rename implements vfs.FS.
func (m *FS) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	oldpath, newpath = clean(oldpath), clean(newpath)
	if err := m.fault(OpRename, oldpath); err != nil {
		return err
	}
	n, ok := m.files[oldpath]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrNotExist}
	}
	if !m.dirs[path.Dir(newpath)] {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrNotExist}
	}
	delete(m.files, oldpath)
	m.files[newpath] = n
	return nil
}

// MkdirAll implements vfs.FS.
func (m *FS) MkdirAll(name string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = clean(name)
	if err := m.fault(OpMkdir, name); err != nil {
		return err
	}
	for d := name; !m.dirs[d]; d = path.Dir(d) {
		if _, ok := m.files[d]; ok {
			return &os.PathError{Op: "mkdir", Path: d, Err: errors.New("not a directory")}
		}
		m.dirs[d] = true
	}
	return nil
}

// ReadDir implements vfs.FS.
func (m *FS) ReadDir(name string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = clean(name)
	if err := m.fault(OpReadDir, name); err != nil {
		return nil, err
	}
	if !m.dirs[name] {
		return nil, &os.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	var names []string
	for p := range m.files {
		if path.Dir(p) == name {
			names = append(names, path.Base(p))
		}
	}
	for d := range m.dirs {
		if d != name && path.Dir(d) == name {
			names = append(names, path.Base(d))
		}
	}
	sort.Strings(names)
	return names, nil
}

// Stat implements vfs.FS.
func (m *FS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = clean(name)
	if err := m.fault(OpStat, name); err != nil {
		return nil, err
	}
	if n, ok := m.files[name]; ok {
		return memInfo{name: path.Base(name), size: n.size}, nil
	}
	if m.dirs[name] {
		return memInfo{name: path.Base(name), dir: true}, nil
	}
	return nil, &os.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

// SyncDir implements vfs.FS: the entries of directory name become durable.
func (m *FS) SyncDir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = clean(name)
	if err := m.fault(OpSyncDir, name); err != nil {
		return err
	}
	if !m.dirs[name] {
		return &os.PathError{Op: "syncdir", Path: name, Err: fs.ErrNotExist}
	}
	for p := range m.durable {
		if path.Dir(p) == name {
			delete(m.durable, p)
		}
	}
	for p, n := range m.files {
		if path.Dir(p) == name {
			m.durable[p] = n
		}
	}
	return nil
}

// SyncFS implements vfs.FileSystemSyncer: every file and directory of the
// FS becomes durable, as syncfs(2) does for a real file system.
func (m *FS) SyncFS(dir string) error {
	if d := m.syncDelay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dir = clean(dir)
	if err := m.fault(OpSync, dir); err != nil {
		return err
	}
	if !m.dirs[dir] {
		return &os.PathError{Op: "syncfs", Path: dir, Err: fs.ErrNotExist}
	}
	clear(m.durable)
	for p, n := range m.files {
		n.sync()
		m.durable[p] = n
	}
	m.syncs++
	return nil
}

type memInfo struct {
	name string
	size int64
	dir  bool
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

type memFile struct {
	fs       *FS
	node     *memNode
	name     string
	gen      uint64
	writable bool
	closed   bool
}

// check returns the error for op on this handle. Callers hold fs.mu.
func (f *memFile) check(op string) error {
	switch {
	case f.closed:
		return &os.PathError{Op: op, Path: f.name, Err: os.ErrClosed}
	case f.gen != f.fs.gen:
		return &os.PathError{Op: op, Path: f.name, Err: ErrCrashed}
	}
	return f.fs.fault(op, f.name)
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(OpRead); err != nil {
		return 0, err
	}
	if off >= f.node.size {
		return 0, io.EOF
	}
	want := int(min(int64(len(p)), f.node.size-off))
	n := 0
	if off < int64(len(f.node.data)) {
		n = copy(p[:want], f.node.data[off:])
	}
	clear(p[n:want]) // the unmaterialised zero tail
	if want < len(p) {
		return want, io.EOF
	}
	return want, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(OpWrite); err != nil {
		return 0, err
	}
	if !f.writable {
		return 0, &os.PathError{Op: OpWrite, Path: f.name, Err: fs.ErrPermission}
	}
	end := off + int64(len(p))
	if end > int64(len(f.node.data)) {
		f.node.data = growTo(f.node.data, end)
	}
	f.node.size = max(f.node.size, end)
	return copy(f.node.data[off:], p), nil
}

func growTo(b []byte, size int64) []byte {
	if size <= int64(cap(b)) {
		old := len(b)
		b = b[:size]
		clear(b[old:])
		return b
	}
	nb := make([]byte, size, max(size, 2*int64(cap(b))))
	copy(nb, b)
	return nb
}

func (f *memFile) Sync() error {
	if d := f.fs.syncDelay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(OpSync); err != nil {
		return err
	}
	f.node.sync()
	f.fs.syncs++
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(OpTruncate); err != nil {
		return err
	}
	if size < 0 {
		return &os.PathError{Op: OpTruncate, Path: f.name, Err: fs.ErrInvalid}
	}
	f.node.setSize(size)
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(OpStat); err != nil {
		return 0, err
	}
	return f.node.size, nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(OpClose); err != nil {
		f.closed = true
		return err
	}
	f.closed = true
	return nil
}

// Allocate implements vfs.Allocator: the file grows to size with a zero tail
// (kept as a size, not as bytes), as fallocate(2) mode 0 does.
func (f *memFile) Allocate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(OpAllocate); err != nil {
		return err
	}
	if !f.writable || size < 0 {
		return &os.PathError{Op: OpAllocate, Path: f.name, Err: fs.ErrInvalid}
	}
	f.node.size = max(f.node.size, size)
	return nil
}
