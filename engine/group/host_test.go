package group

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronik/chronik/wal"
	"github.com/chronik/chronik/wal/vfs/memfs"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// walLog is the tests' Log: a real wal.Log on a memfs.FS, so appends,
// reads, commits (fdatasync), compaction and crashes behave as on disk.
// Commit may be held back (hold) or failed (commitErr); DeleteRecordsBefore
// may be failed (deleteErr).
type walLog struct {
	*wal.Log
	epoch atomic.Int32 // the leader epoch the test says this broker leads at

	mu        sync.Mutex
	hold      bool
	held      []func()
	commitErr error
	deleteErr error
}

func (l *walLog) Append(batch []byte) (int64, error) { return l.Log.Append(batch, 0) }

func (l *walLog) LeaderEpoch() int32 { return l.epoch.Load() }

func (l *walLog) Commit(through int64, done func(error)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.commitErr != nil:
		go done(l.commitErr)
	case l.hold:
		l.held = append(l.held, func() { l.Log.Sync(through, done) })
	default:
		l.Log.Sync(through, done)
	}
}

func (l *walLog) DeleteRecordsBefore(offset int64) error {
	l.mu.Lock()
	err := l.deleteErr
	l.mu.Unlock()
	if err != nil {
		return err
	}
	return l.Log.DeleteRecordsBefore(offset)
}

// holdCommits makes Commit wait for release.
func (l *walLog) holdCommits() {
	l.mu.Lock()
	l.hold = true
	l.mu.Unlock()
}

// failCommits makes every later Commit fail with err.
func (l *walLog) failCommits(err error) {
	l.mu.Lock()
	l.commitErr = err
	l.mu.Unlock()
}

// release lets every held Commit go on, and holds no more.
func (l *walLog) release() {
	l.mu.Lock()
	held := l.held
	l.hold, l.held = false, nil
	l.mu.Unlock()
	for _, f := range held {
		f()
	}
}

// testHost is an in-memory broker: __consumer_offsets as walLogs on a
// MemFS, which partitions this broker leads, and the user topics.
// reenter, when set, runs inside CreateTopic and PartitionExists as a
// broker calling back into the coordinator would (only one level deep).
type testHost struct {
	t          testing.TB
	partitions int32
	segBytes   int64

	mu        sync.Mutex
	fs        *memfs.FS
	id        [16]byte
	logs      []*walLog // nil: no topic
	led       []bool
	user      map[string]int32 // user topic -> partitions
	creates   int
	createErr error // CreateTopic fails with it

	reenter   func()
	reentered atomic.Bool
}

func newTestHost(t testing.TB, partitions int32) *testHost {
	h := &testHost{t: t, partitions: partitions, segBytes: 1 << 20, fs: memfs.New(), user: map[string]int32{"t": 4}}
	t.Cleanup(h.closeLogs)
	return h
}

// createLocked opens the internal topic's logs with a new id. Caller holds h.mu.
func (h *testHost) createLocked() {
	rand.Read(h.id[:])
	h.logs, h.led = nil, nil
	for i := range h.partitions {
		h.logs = append(h.logs, h.openLocked(i))
		h.led = append(h.led, true)
	}
	h.creates++
}

func (h *testHost) openLocked(i int32) *walLog {
	dir := fmt.Sprintf("/data/%x/%s-%d", h.id[:4], TopicName, i)
	l, err := wal.Open(h.fs, dir, wal.Options{SegmentBytes: h.segBytes, PreallocateBytes: -1, RetentionMs: wal.Retain(-1)})
	if err != nil {
		h.t.Fatalf("open %s: %v", dir, err)
	}
	return &walLog{Log: l}
}

func (h *testHost) closeLogs() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.logs {
		l.Close() // fails after a crash: the handles are dead
	}
}

// crash cuts the power: whatever was not fdatasync'd is lost, and the logs
// are opened again (recovered) on what the disk kept.
func (h *testHost) crash() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fs = h.fs.Reboot(nil)
	for i, old := range h.logs {
		old.Close()
		h.logs[i] = h.openLocked(int32(i))
	}
}

// log returns partition i's log.
func (h *testHost) log(i int32) *walLog {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logs[i]
}

func (h *testHost) setLed(i int32, led bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.led[i] = led
}

// deleteTopic drops the internal topic as DeleteTopics does.
func (h *testHost) deleteTopic() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.logs {
		l.Delete()
	}
	h.logs, h.led = nil, nil
}

func (h *testHost) Topic() (Topic, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.logs == nil {
		return Topic{}, false
	}
	return Topic{ID: h.id, Partitions: int32(len(h.logs))}, true
}

func (h *testHost) Leader(i int32) Log {
	h.mu.Lock()
	defer h.mu.Unlock()
	if int(i) >= len(h.logs) || !h.led[i] {
		return nil
	}
	return h.logs[i]
}

func (h *testHost) CreateTopic() error {
	h.callBack()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.createErr != nil {
		return h.createErr
	}
	if h.logs == nil {
		h.createLocked()
	}
	return nil
}

func (h *testHost) PartitionExists(topic string, partition int32) bool {
	h.callBack()
	h.mu.Lock()
	defer h.mu.Unlock()
	return partition >= 0 && partition < h.user[topic]
}

func (h *testHost) callBack() {
	if h.reenter != nil && h.reentered.CompareAndSwap(false, true) {
		defer h.reentered.Store(false)
		h.reenter()
	}
}

// testConfig is a coordinator configuration for tests: no initial
// rebalance delay, session timeouts down to 10 ms.
func testConfig(partitions int32) Config {
	return Config{
		MinSessionTimeoutMs: 10, MaxSessionTimeoutMs: 60000, MaxSize: 100,
		OffsetMetadataMaxBytes: 4096, TopicPartitions: partitions, SegmentBytes: 100 << 20,
		MinCleanableRatio: 0.5, LoadBufferBytes: 4096,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// startCoordinator loads a coordinator over h; it is closed at cleanup.
func startCoordinator(t testing.TB, h *testHost, mutate ...func(*Config)) *Coordinator {
	t.Helper()
	cfg := testConfig(h.partitions)
	for _, m := range mutate {
		m(&cfg)
	}
	c := New(cfg, h)
	if err := c.Load(); err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// answerLater runs a request that may park; its answer arrives on the channel.
func answerLater[T kmsg.Response](call func(respond func(kmsg.Response)) kmsg.Response) <-chan T {
	ch := make(chan T, 1)
	if r := call(func(r kmsg.Response) { ch <- r.(T) }); r != nil {
		ch <- r.(T)
	}
	return ch
}

func await[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no answer within 10 s")
		panic("unreachable")
	}
}

// eventually retries check until it returns nil or 10 s pass.
func eventually(t testing.TB, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
