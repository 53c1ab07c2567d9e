package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"sync"
)

// Entry sizes of the two sparse indexes.
const (
	offsetEntrySize = 8  // relative offset uint32 | position uint32
	timeEntrySize   = 12 // timestamp int64 | relative offset uint32

	// heapIndexInitialBytes is the first allocation of an unmapped index;
	// it grows by append up to its capacity.
	heapIndexInitialBytes = 4 << 10
)

// index is one sparse, append-only file of fixed-size big-endian entries.
// With an FS whose files implement Mmapper, the file is sized (sparse) to
// its capacity and mapped while entries are appended, then trimmed to its used
// size and remapped read-only when sealed. Otherwise entries live in a heap
// buffer and are written through with WriteAt. mu guards buf and n: the
// appender (under Log.mu) takes it to write, readers to look up.
//
// While mapped, the file is closed (f is nil): the mapping holds the pages
// and needs no descriptor, and the rare operations that do (truncate,
// seal, sync, close) reopen it by name. A partition then keeps one
// descriptor open (its log) instead of three, which is what lets a broker
// hold 10,000 partitions under an RLIMIT_NOFILE of 20,000.
type index struct {
	mu        sync.RWMutex
	fsys      FS
	f         File    // nil while mapped
	mm        Mmapper // the file that made the mapping: Munmap works after Close
	name      string
	entrySize int
	buf       []byte // mapping or heap copy; entries are buf[:n*entrySize]
	mapped    bool
	n         int
	capacity  int  // entries that fit; 0 once sealed
	missing   bool // the file did not exist at open: not to be trusted
}

// openIndex opens the index file name, trusting its current contents
// (callers validate or reset). With writable, it is ready for appends up to
// maxBytes; otherwise it is sealed.
func openIndex(fsys FS, name string, entrySize, maxBytes int, writable bool) (*index, error) {
	missing := false
	f, err := fsys.OpenFile(name, os.O_RDWR, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		missing = true
		f, err = fsys.OpenFile(name, osCreateRDWR, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", name, err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("size index %s: %w", name, err)
	}
	x := &index{fsys: fsys, f: f, name: name, entrySize: entrySize, n: int(size) / entrySize, missing: missing}
	if writable {
		x.capacity = max(maxBytes/entrySize, x.n)
	}
	if err := x.load(); err != nil {
		f.Close()
		return nil, err
	}
	return x, nil
}

// newIndex creates (or empties) the index file name, ready for appends up
// to maxBytes: one open, for a segment prepared ahead of its roll.
func newIndex(fsys FS, name string, entrySize, maxBytes int) (*index, error) {
	f, err := fsys.OpenFile(name, osCreateRDWR|osTrunc, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create index %s: %w", name, err)
	}
	x := &index{fsys: fsys, f: f, name: name, entrySize: entrySize, capacity: maxBytes / entrySize}
	if err := x.load(); err != nil {
		f.Close()
		return nil, err
	}
	return x, nil
}

// file returns the index's open file, reopening it by name when it was
// closed while mapped. Caller holds x.mu or owns x.
func (x *index) file() (File, error) {
	if x.f != nil {
		return x.f, nil
	}
	f, err := x.fsys.OpenFile(x.name, os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("reopen index %s: %w", x.name, err)
	}
	x.f = f
	return f, nil
}

// closeIfMapped closes the file while a mapping serves the index.
func (x *index) closeIfMapped() error {
	if !x.mapped || x.f == nil {
		return nil
	}
	f := x.f
	x.f = nil
	if err := f.Close(); err != nil {
		return fmt.Errorf("close index %s: %w", x.name, err)
	}
	return nil
}

// load maps or reads the file for the current n and capacity.
func (x *index) load() error {
	used := x.n * x.entrySize
	f, err := x.file()
	if err != nil {
		return err
	}
	mm, ok := f.(Mmapper)
	if !ok {
		x.buf = make([]byte, used, max(used, min(x.capacity*x.entrySize, heapIndexInitialBytes)))
		if used > 0 {
			if _, err := f.ReadAt(x.buf, 0); err != nil {
				return fmt.Errorf("read index %s: %w", x.name, err)
			}
		}
		return f.Truncate(int64(used))
	}
	length := max(used, x.capacity*x.entrySize)
	// Sized sparse (ftruncate), as Kafka does: fallocating MaxIndexBytes
	// twice per partition would reserve 20 MiB of disk each by default.
	if err := f.Truncate(int64(length)); err != nil {
		return fmt.Errorf("size index %s to %d: %w", x.name, length, err)
	}
	if length == 0 {
		return nil
	}
	b, err := mm.Mmap(length, x.capacity > 0)
	if err != nil {
		return fmt.Errorf("map index %s: %w", x.name, err)
	}
	// Lookups are binary searches and appends touch one page at a time:
	// without the advice the first fault of a fresh, sparse index reads
	// ahead up to the device's read_ahead_kb (8 MiB on the reference box),
	// zero-filling megabytes of holes into the page cache: 2.4 ms of CPU
	// and 10 ms per fresh index there, which made the first appends to
	// each of 1,000 new partitions cost 26x the CPU per record of 4
	// (chronik-bench scale; issue 15).
	if ra, ok := f.(RandomAdvisor); ok {
		if err := ra.AdviseRandom(b); err != nil {
			mm.Munmap(b)
			return fmt.Errorf("map index %s: %w", x.name, err)
		}
	}
	x.buf, x.mapped, x.mm = b, true, mm
	return x.closeIfMapped()
}

// unload drops the mapping, if any.
func (x *index) unload() error {
	b := x.buf
	x.buf = nil
	if !x.mapped || b == nil {
		return nil
	}
	x.mapped = false
	return x.mm.Munmap(b)
}

// reset empties the index and makes it writable with maxBytes of room.
func (x *index) reset(maxBytes int) error { return x.truncate(0, maxBytes) }

// truncate keeps the first n entries and makes the index writable with
// maxBytes of room (at least those n), as for the active segment. On
// error the index is left empty and sealed (a sparse index may lack
// entries; the next unclean Open rebuilds it).
func (x *index) truncate(n, maxBytes int) (err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	defer func() {
		if err != nil {
			x.buf, x.mapped, x.n, x.capacity = nil, false, 0, 0
		}
	}()
	if err := x.unload(); err != nil {
		return err
	}
	n = min(n, x.n)
	f, err := x.file()
	if err != nil {
		return err
	}
	if err := f.Truncate(int64(n * x.entrySize)); err != nil {
		return fmt.Errorf("truncate index %s to %d entries: %w", x.name, n, err)
	}
	x.n, x.capacity = n, max(maxBytes/x.entrySize, n)
	return x.load()
}

// countBelow returns how many leading entries have key(entry) < limit;
// key must not decrease along the index (positions, relative offsets).
func (x *index) countBelow(limit int64, key func(i int) int64) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return sort.Search(x.n, func(i int) bool { return key(i) >= limit })
}

// room returns how many more entries fit (0 once sealed).
func (x *index) room() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return max(x.capacity-x.n, 0)
}

// append adds one entry; false if the index is full or sealed.
func (x *index) append(entry []byte) (bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.n >= x.capacity {
		return false, nil
	}
	at := x.n * x.entrySize
	if x.mapped {
		copy(x.buf[at:at+x.entrySize], entry)
	} else {
		x.buf = append(x.buf, entry...)
		// Written from buf, so entry does not escape (no allocation).
		if _, err := x.f.WriteAt(x.buf[at:at+x.entrySize], int64(at)); err != nil {
			x.buf = x.buf[:at]
			return false, fmt.Errorf("write index %s: %w", x.name, err)
		}
	}
	x.n++
	return true, nil
}

// seal trims the file to its entries and remaps it read-only.
func (x *index) seal() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.capacity == 0 {
		return nil
	}
	if err := x.unload(); err != nil {
		return err
	}
	x.capacity = 0
	return x.load()
}

// close closes the file; with keep (the index stays on disk) it seals
// and syncs it first.
func (x *index) close(keep bool) error {
	var err error
	if keep {
		err = x.seal()
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if uerr := x.unload(); err == nil {
		err = uerr
	}
	if keep {
		f, ferr := x.file()
		if ferr == nil {
			ferr = f.Sync()
		}
		if err == nil && ferr != nil {
			err = fmt.Errorf("sync index %s: %w", x.name, ferr)
		}
	}
	if x.f != nil {
		if cerr := x.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close index %s: %w", x.name, cerr)
		}
		x.f = nil
	}
	return err
}

// sync makes the index file durable (reopening it while mapped).
func (x *index) sync() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	f, err := x.file()
	if err == nil {
		err = f.Sync()
	}
	if cerr := x.closeIfMapped(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync index %s: %w", x.name, err)
	}
	return nil
}

func (x *index) entry(i int) []byte { return x.buf[i*x.entrySize : (i+1)*x.entrySize] }

func (x *index) count() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.n
}

// Offset index entries.

func offsetEntry(rel uint32, pos uint32) []byte {
	var e [offsetEntrySize]byte
	binary.BigEndian.PutUint32(e[0:], rel)
	binary.BigEndian.PutUint32(e[4:], pos)
	return e[:]
}

func (x *index) offsetAt(i int) (rel uint32, pos uint32) {
	e := x.entry(i)
	return binary.BigEndian.Uint32(e[0:]), binary.BigEndian.Uint32(e[4:])
}

// lookupOffset returns the position of the last indexed batch whose
// relative base offset is <= rel, or 0.
func (x *index) lookupOffset(rel uint32) int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i := sort.Search(x.n, func(i int) bool { r, _ := x.offsetAt(i); return r > rel })
	if i == 0 {
		return 0
	}
	_, pos := x.offsetAt(i - 1)
	return int64(pos)
}

// checkOffsetIndex reports whether entries are strictly increasing in both
// fields, non-zero in position, below segSize and within spanOffsets.
func (x *index) checkOffsetIndex(segSize int64, spanOffsets int64) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var prevRel, prevPos int64 = -1, 0
	for i := 0; i < x.n; i++ {
		r, p := x.offsetAt(i)
		rel, pos := int64(r), int64(p)
		if rel <= prevRel || pos <= prevPos || pos >= segSize || rel >= spanOffsets {
			return fmt.Errorf("offset index %s entry %d (%d,%d) out of order", x.name, i, rel, pos)
		}
		prevRel, prevPos = rel, pos
	}
	return nil
}

// Time index entries.

func timeEntry(ts int64, rel uint32) []byte {
	var e [timeEntrySize]byte
	binary.BigEndian.PutUint64(e[0:], uint64(ts))
	binary.BigEndian.PutUint32(e[8:], rel)
	return e[:]
}

func (x *index) timeAt(i int) (ts int64, rel uint32) {
	e := x.entry(i)
	return int64(binary.BigEndian.Uint64(e[0:])), binary.BigEndian.Uint32(e[8:])
}

// lastTime returns the last time entry.
func (x *index) lastTime() (ts int64, rel uint32, ok bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.n == 0 {
		return 0, 0, false
	}
	ts, rel = x.timeAt(x.n - 1)
	return ts, rel, true
}

// lookupTime returns the relative offset of the last entry whose timestamp
// is < ts: every batch up to and including it has a smaller max timestamp.
func (x *index) lookupTime(ts int64) (rel uint32, ok bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i := sort.Search(x.n, func(i int) bool { t, _ := x.timeAt(i); return t >= ts })
	if i == 0 {
		return 0, false
	}
	_, rel = x.timeAt(i - 1)
	return rel, true
}

// checkTimeIndex reports whether timestamps strictly increase and relative
// offsets do not decrease and stay within spanOffsets.
func (x *index) checkTimeIndex(spanOffsets int64) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var prevTs, prevRel int64
	for i := 0; i < x.n; i++ {
		ts, r := x.timeAt(i)
		rel := int64(r)
		if (i > 0 && (ts <= prevTs || rel < prevRel)) || rel >= spanOffsets {
			return fmt.Errorf("time index %s entry %d (%d,%d) out of order", x.name, i, ts, rel)
		}
		prevTs, prevRel = ts, rel
	}
	return nil
}
