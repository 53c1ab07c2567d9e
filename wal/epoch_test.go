package wal

import (
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronik/chronik/wal/vfs/memfs"
)

// epochLog returns a log whose epoch 0 holds offsets [0, 100) and epoch 1
// [100, 150): cache [(0,0),(1,100)], LEO 150, all of it durable.
func epochLog(t *testing.T, fsys FS) *Log {
	t.Helper()
	l, err := Open(fsys, "/data/t-0", Options{SegmentBytes: 4000, IndexIntervalBytes: 200})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		mustAppend(t, l, makeBatch(5, 10, int64(i)), int32(i/20))
	}
	syncNow(t, l)
	return l
}

func epochLines(t *testing.T, fsys FS) []string {
	t.Helper()
	lines, err := readCheckpoint(fsys, "/data/t-0", leaderEpochCheckpoint)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func checkEndOffsets(t *testing.T, l *Log, want map[int32][2]int64) {
	t.Helper()
	for epoch, w := range want {
		if e, off := l.EndOffsetForEpoch(epoch); int64(e) != w[0] || off != w[1] {
			t.Fatalf("EndOffsetForEpoch(%d) = (%d,%d), want (%d,%d)", epoch, e, off, w[0], w[1])
		}
	}
}

// A new leader's epoch starts at the LEO it found, durably, before any
// batch of it exists.
func TestBeginEpochStartsTheEpochAtTheLogEndDurably(t *testing.T) {
	fsys := memfs.New()
	l := epochLog(t, fsys)
	defer l.Close()
	started, err := l.BeginEpoch(2)
	if err != nil || !started {
		t.Fatalf("BeginEpoch(2) = %v, %v", started, err)
	}
	checkEndOffsets(t, l, map[int32][2]int64{0: {0, 100}, 1: {1, 150}, 2: {2, 150}, 3: {-1, -1}})
	for _, e := range []int32{2, 1, 0} {
		if started, err := l.BeginEpoch(e); started || err != nil {
			t.Fatalf("BeginEpoch(%d) after epoch 2 = %v, %v", e, started, err)
		}
	}
	// Durable before it returned: what a power cut leaves says so.
	if got, want := epochLines(t, fsys.Reboot(nil)), []string{"0 0", "1 100", "2 150"}; !slices.Equal(got, want) {
		t.Fatalf("checkpoint after a crash %q, want %q", got, want)
	}
}

// The epoch's first batches, by Append or AppendReplica, add no second
// entry, and the entry survives Open once they are below the LEO.
func TestBatchesOfABegunEpochAddNoEntry(t *testing.T) {
	fsys := memfs.New()
	l := epochLog(t, fsys)
	if _, err := l.BeginEpoch(2); err != nil {
		t.Fatal(err)
	}
	b := makeBatch(4, 10, 99)
	SetBaseOffset(b, 150)
	SetLeaderEpoch(b, 2)
	if _, err := l.AppendReplica(b, nil); err != nil {
		t.Fatal(err)
	}
	if off := mustAppend(t, l, makeBatch(4, 10, 99), 2); off != 154 {
		t.Fatalf("second batch of epoch 2 at %d", off)
	}
	want := []string{"0 0", "1 100", "2 150"}
	if got := epochLines(t, fsys); !slices.Equal(got, want) {
		t.Fatalf("checkpoint %q, want %q", got, want)
	}
	ends := map[int32][2]int64{0: {0, 100}, 1: {1, 150}, 2: {2, 158}}
	checkEndOffsets(t, l, ends)
	syncNow(t, l)
	l = reopen(t, fsys, l, Options{})
	checkEndOffsets(t, l, ends)
	l, _ = crashOpen(t, fsys, l, Options{}, nil)
	defer l.Close()
	checkEndOffsets(t, l, ends)
}

// An epoch begun with no batch yet starts at the LEO; Open drops it as
// Kafka's LogLoader does (truncateFromEnd(logEndOffset)), after a clean
// stop and after a crash, and BeginEpoch starts it again.
func TestOpenDropsAnEpochWithoutBatchesAsKafkaDoes(t *testing.T) {
	for _, crash := range []bool{false, true} {
		fsys := memfs.New()
		l := epochLog(t, fsys)
		if _, err := l.BeginEpoch(2); err != nil {
			t.Fatal(err)
		}
		if crash {
			l, _ = crashOpen(t, fsys, l, Options{}, nil)
		} else {
			l = reopen(t, fsys, l, Options{})
		}
		if e, _ := l.LatestEpoch(); e != 1 || l.LogEndOffset() != 150 {
			t.Fatalf("crash %v: latest epoch %d, LEO %d", crash, e, l.LogEndOffset())
		}
		checkEndOffsets(t, l, map[int32][2]int64{1: {1, 150}, 2: {-1, -1}})
		if started, err := l.BeginEpoch(2); !started || err != nil {
			t.Fatalf("crash %v: BeginEpoch(2) after Open = %v, %v", crash, started, err)
		}
		checkEndOffsets(t, l, map[int32][2]int64{1: {1, 150}, 2: {2, 150}})
		l.Close()
	}
}

func TestBeginEpochRefusesNegativeEpochsAndClosedOrFailedLogs(t *testing.T) {
	fsys := memfs.New()
	l := epochLog(t, fsys)
	if _, err := l.BeginEpoch(-1); err == nil {
		t.Fatal("negative epoch accepted")
	}
	fsys.InjectError(memfs.OpSync, leaderEpochCheckpoint, errors.New("disk gone"))
	if _, err := l.BeginEpoch(3); !errors.Is(err, ErrStorage) {
		t.Fatalf("failed checkpoint: %v", err)
	}
	if _, err := l.Append(makeBatch(1, 1, 0), 3); !errors.Is(err, ErrStorage) {
		t.Fatalf("append after a failed BeginEpoch: %v", err)
	}
	fsys.ClearErrors()
	l.Close()
	if _, err := l.BeginEpoch(4); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed log: %v", err)
	}
}

// Appends wait while BeginEpoch makes the new epoch durable, so none can
// return before the checkpoint that names its epoch is on disk.
func TestAppendsWaitForBeginEpoch(t *testing.T) {
	bfs := &blockSyncFS{FS: memfs.New(), match: leaderEpochCheckpoint + tmpSuffix,
		blocked: make(chan struct{}), release: make(chan struct{})}
	l := epochLog(t, bfs)
	defer l.Close()
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(bfs.release) }) }
	defer release() // before Close, which waits for BeginEpoch
	bfs.arm()
	begun := make(chan error, 1)
	go func() { _, err := l.BeginEpoch(2); begun <- err }()
	select {
	case <-bfs.blocked: // BeginEpoch is inside the checkpoint's fsync
	case err := <-begun:
		t.Fatalf("BeginEpoch returned (%v) without syncing its checkpoint", err)
	}
	appended := make(chan int64, 1)
	go func() {
		off, err := l.Append(makeBatch(1, 10, 0), 2)
		if err != nil {
			off = -1
		}
		appended <- off
	}()
	select {
	case off := <-appended:
		t.Fatalf("append at %d returned before the epoch's checkpoint was durable", off)
	case <-time.After(30 * time.Millisecond):
	}
	release()
	if err := <-begun; err != nil {
		t.Fatal(err)
	}
	if off := <-appended; off != 150 {
		t.Fatalf("append at %d, want 150", off)
	}
	if got := epochLines(t, bfs.FS); !slices.Equal(got, []string{"0 0", "1 100", "2 150"}) {
		t.Fatalf("checkpoint %q", got)
	}
}

// blockSyncFS blocks, once armed, the first Sync of a file whose name
// contains match: it signals blocked and waits for release.
type blockSyncFS struct {
	FS
	match            string
	blocked, release chan struct{}
	once             sync.Once
	armed            bool
	mu               sync.Mutex
}

func (b *blockSyncFS) arm() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.armed = true
}

func (b *blockSyncFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := b.FS.OpenFile(name, flag, perm)
	if err != nil || !strings.Contains(name, b.match) {
		return f, err
	}
	return &blockSyncFile{File: f, fs: b}, nil
}

type blockSyncFile struct {
	File
	fs *blockSyncFS
}

func (f *blockSyncFile) Sync() error {
	f.fs.mu.Lock()
	armed := f.fs.armed
	f.fs.mu.Unlock()
	if armed {
		f.fs.once.Do(func() {
			close(f.fs.blocked)
			<-f.fs.release
		})
	}
	return f.File.Sync()
}

// A leader that began an epoch and lost leadership before appending keeps
// the batchless epoch in its cache; as a follower it must drop it when
// its new leader says its history ends at its LEO, or it would report that
// epoch as its last fetched one, and be told the same divergence, forever.
func TestTruncateToTheLEODropsABatchlessEpoch(t *testing.T) {
	fsys := memfs.New()
	l := epochLog(t, fsys)
	defer l.Close()
	if _, err := l.BeginEpoch(5); err != nil {
		t.Fatal(err)
	}
	if e, _ := l.LatestEpoch(); e != 5 {
		t.Fatalf("latest epoch %d after BeginEpoch(5)", e)
	}
	if err := l.TruncateTo(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if e, _ := l.LatestEpoch(); e != 1 {
		t.Fatalf("latest epoch %d after truncating to the LEO, want 1 (epoch 5 has no batch)", e)
	}
	if got := epochLines(t, fsys); len(got) != 2 {
		t.Fatalf("checkpoint after the trim: %q, want epochs 0 and 1", got)
	}
}
