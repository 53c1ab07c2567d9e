package partition

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chronik/chronik/wal"
	"github.com/chronik/chronik/wal/vfs/memfs"
	"github.com/twmb/franz-go/pkg/kerr"
)

const snapDir = "/data/t-0"

var snapOpts = wal.Options{PreallocateBytes: -1, IndexIntervalBytes: 128, SegmentBytes: 4000}

// idempotentBatch is a valid v2 batch of n empty records from producer
// pid at epoch, sequences seq..seq+n-1.
func idempotentBatch(pid int64, epoch int16, seq int32, n int) []byte {
	var recs []byte
	for i := range n {
		body := []byte{0, 0, byte(2 * i), 1, 1, 0} // attrs, tsDelta, offDelta (zig-zag), key -1, value -1, headers
		recs = append(append(recs, byte(2*len(body))), body...)
	}
	b := make([]byte, wal.BatchHeaderSize, wal.BatchHeaderSize+len(recs))
	be := binary.BigEndian
	be.PutUint32(b[8:], uint32(wal.BatchHeaderSize-12+len(recs)))
	b[16] = 2
	be.PutUint32(b[23:], uint32(n-1))
	be.PutUint64(b[27:], 1)
	be.PutUint64(b[35:], 1)
	be.PutUint64(b[43:], uint64(pid))
	be.PutUint16(b[51:], uint16(epoch))
	be.PutUint32(b[53:], uint32(seq))
	be.PutUint32(b[57:], uint32(n))
	b = append(b, recs...)
	be.PutUint32(b[17:], wal.CRC32C(b[21:]))
	return b
}

func openSnapPartition(t *testing.T, fsys wal.FS) *Partition {
	t.Helper()
	p, err := Open(fsys, snapDir, "t", 0, snapOpts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p.SetSettings(Settings{Self: 1})
	if err := p.SetLeadership(Leadership{Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}); err != nil {
		t.Fatal(err)
	}
	return p
}

// produce appends b and returns the append's outcome.
func produce(p *Partition, b []byte) (int64, bool, *kerr.Error) {
	h, _ := wal.ParseBatchHeader(b)
	return p.AppendProduced(h, append([]byte(nil), b...), 0)
}

// rebuiltFromLog is the producer state a scan of p's whole log gives.
func rebuiltFromLog(t *testing.T, p *Partition) map[int64]*producerState {
	t.Helper()
	ref := &Partition{log: p.log, producers: map[int64]*producerState{}}
	if err := ref.replayFrom(p.log.LogStartOffset()); err != nil {
		t.Fatal(err)
	}
	return ref.producers
}

func syncLog(t *testing.T, l *wal.Log) {
	t.Helper()
	done := make(chan error, 1)
	l.Sync(l.LogEndOffset(), func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// producerLoad drives a few idempotent producers: new batches, retries
// of recent ones, epoch bumps.
type producerLoad struct {
	rng   *rand.Rand
	epoch map[int64]int16
	seq   map[int64]int32
	sent  map[int64][][]byte // per producer, its batches in the current epoch
}

func newProducerLoad(seed uint64) *producerLoad {
	return &producerLoad{rng: rand.New(rand.NewPCG(seed, 3)), epoch: map[int64]int16{}, seq: map[int64]int32{}, sent: map[int64][][]byte{}}
}

// resume takes each producer up where the reopened partition's state has
// it (a crash may have lost its latest batches; retention its whole
// history: then it starts a new epoch, as a client would after
// UNKNOWN_PRODUCER_ID).
func (w *producerLoad) resume(p *Partition) {
	for pid := range int64(5) {
		if s := p.producers[pid]; s != nil {
			w.epoch[pid], w.seq[pid] = s.epoch, nextSeq(s.lastSeq())
		} else {
			w.epoch[pid]++
			w.seq[pid] = 0
		}
		w.sent[pid] = nil
	}
}

func (w *producerLoad) step(t *testing.T, p *Partition) {
	t.Helper()
	pid := int64(1 + w.rng.IntN(4))
	switch r := w.rng.IntN(20); {
	case r == 0:
		w.epoch[pid]++
		w.seq[pid], w.sent[pid] = 0, nil
	case r < 3 && len(w.sent[pid]) > 0:
		b := w.sent[pid][len(w.sent[pid])-1-w.rng.IntN(min(len(w.sent[pid]), 5))]
		if _, dup, err := produce(p, b); err != nil || !dup {
			t.Fatalf("retry of a recent batch of %d: dup %v, %v", pid, dup, err)
		}
		return
	}
	n := 1 + w.rng.IntN(3)
	b := idempotentBatch(pid, w.epoch[pid], w.seq[pid], n)
	if _, dup, err := produce(p, b); err != nil || dup {
		t.Fatalf("producer %d seq %d: dup %v, %v", pid, w.seq[pid], dup, err)
	}
	w.seq[pid] += int32(n)
	w.sent[pid] = append(w.sent[pid], b)
}

// TestProducerStateFromSnapshotsEqualsARebuildFromTheLog runs idempotent
// producers with checkpoints, retention and crashes (with torn writes)
// or clean stops, and checks after every reopen that the state restored
// from snapshots is the state a scan of the whole log gives.
func TestProducerStateFromSnapshotsEqualsARebuildFromTheLog(t *testing.T) {
	fromSnapshot := 0
	for round := range 40 {
		fsys := memfs.New()
		w := newProducerLoad(uint64(round))
		p := openSnapPartition(t, fsys)
		for life := range 4 {
			for range 20 + w.rng.IntN(150) {
				w.step(t, p)
				switch w.rng.IntN(40) {
				case 0, 1:
					if err := p.Checkpoint(); err != nil {
						t.Fatal(err)
					}
				case 2:
					leo := p.log.LogEndOffset()
					if err := p.log.DeleteRecordsBefore(leo - w.rng.Int64N(leo/2+1)); err != nil {
						t.Fatal(err)
					}
				}
			}
			syncLog(t, p.log)
			if w.rng.IntN(3) == 0 {
				p.Abandon()
				p.Checkpoint()
				if err := p.log.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				after := fsys.Reboot(w.rng)
				p.log.Close()
				fsys = after
			}
			p = openSnapPartition(t, fsys)
			if want := rebuiltFromLog(t, p); !reflect.DeepEqual(p.producers, want) {
				t.Fatalf("round %d life %d: restored from %+v:\n%s\nwant\n%s", round, life, p.RestoreStats(), dumpProducers(p.producers), dumpProducers(want))
			}
			if p.RestoreStats().SnapshotOffset >= 0 {
				fromSnapshot++
			}
			w.resume(p)
		}
		p.log.Close()
	}
	if fromSnapshot < 40 {
		t.Fatalf("only %d of 160 opens restored from a snapshot", fromSnapshot)
	}
}

func dumpProducers(m map[int64]*producerState) string {
	var b strings.Builder
	for id := range int64(5) {
		if s := m[id]; s != nil {
			fmt.Fprintf(&b, "  %d: epoch %d %v\n", id, s.epoch, s.batches)
		}
	}
	return b.String()
}

// TestDuplicatesAreRejectedAfterACrashPastASnapshot: a producer's retries
// of its last five batches, some before the snapshot and some after, are
// answered with their original offsets after a crash; a sequence gap and
// an old epoch are refused; the next sequence is taken.
func TestDuplicatesAreRejectedAfterACrashPastASnapshot(t *testing.T) {
	fsys := memfs.New()
	p := openSnapPartition(t, fsys)
	var sent [][]byte
	var bases []int64
	for i := range 10 {
		b := idempotentBatch(7, 2, int32(2*i), 2)
		base, _, err := produce(p, b)
		if err != nil {
			t.Fatal(err)
		}
		sent, bases = append(sent, b), append(bases, base)
		if i == 7 {
			if err := p.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
	}
	syncLog(t, p.log)
	after := fsys.Reboot(nil)
	p.log.Close()
	p = openSnapPartition(t, after)
	defer p.log.Close()
	if rs := p.RestoreStats(); rs.SnapshotOffset != 16 || rs.ReplayedBatches != 2 {
		t.Fatalf("restore %+v, want the snapshot at 16 and 2 batches replayed", rs)
	}
	for i := 5; i < 10; i++ {
		if base, dup, err := produce(p, sent[i]); err != nil || !dup || base != bases[i] {
			t.Fatalf("retry of batch %d: base %d dup %v err %v, want the original %d", i, base, dup, err, bases[i])
		}
	}
	for _, tc := range []struct {
		b    []byte
		want *kerr.Error
	}{
		{idempotentBatch(7, 2, 22, 1), kerr.OutOfOrderSequenceNumber},
		{idempotentBatch(7, 1, 20, 1), kerr.InvalidProducerEpoch},
		{idempotentBatch(7, 2, 8, 2), kerr.OutOfOrderSequenceNumber}, // older than the five remembered
	} {
		if _, _, err := produce(p, tc.b); err != tc.want {
			t.Fatalf("got %v, want %v", err, tc.want)
		}
	}
	if _, dup, err := produce(p, idempotentBatch(7, 2, 20, 1)); err != nil || dup {
		t.Fatalf("next sequence: dup %v, %v", dup, err)
	}
}

// TestBadSnapshotsFallBackToOlderOnesOrTheLog: a snapshot that is corrupt,
// past the log end, or describes another log (its last batch is not the
// log's) is skipped; the state is what the log says.
func TestBadSnapshotsFallBackToOlderOnesOrTheLog(t *testing.T) {
	for _, tc := range []struct {
		name       string
		damage     func(t *testing.T, fsys wal.FS, newest int64)
		wantLoaded func(newest, older int64) int64
	}{
		{"corrupt", func(t *testing.T, fsys wal.FS, o int64) {
			f, _ := fsys.OpenFile(filepath.Join(snapDir, snapshotName(o)), 2, 0)
			f.WriteAt([]byte{0xff}, 40)
			f.Close()
		}, func(_, older int64) int64 { return older }},
		{"stale: another log's", func(t *testing.T, fsys wal.FS, o int64) {
			path := filepath.Join(snapDir, snapshotName(o))
			data, _ := wal.ReadFile(fsys, path, 1<<20)
			s, _ := decodeSnapshot(data)
			sealSnapshot(data, wal.BatchHeader{BaseOffset: s.lastBase, CRC: s.lastCRC + 1})
			wal.WriteFileAtomic(fsys, snapDir, snapshotName(o), data)
		}, func(_, older int64) int64 { return older }},
		{"past the log end", func(t *testing.T, fsys wal.FS, o int64) {
			data, _ := wal.ReadFile(fsys, filepath.Join(snapDir, snapshotName(o)), 1<<20)
			wal.WriteFileAtomic(fsys, snapDir, snapshotName(o+1000), data)
		}, func(newest, _ int64) int64 { return newest }},
		{"all gone", func(t *testing.T, fsys wal.FS, o int64) {
			offs, _ := listSnapshots(fsys, snapDir)
			for _, o := range offs {
				fsys.Remove(filepath.Join(snapDir, snapshotName(o)))
			}
		}, func(int64, int64) int64 { return -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := memfs.New()
			w := newProducerLoad(5)
			p := openSnapPartition(t, fsys)
			var ckpts []int64
			for i := range 3 {
				for range 40 {
					w.step(t, p)
				}
				if i > 0 {
					p.Checkpoint()
					ckpts = append(ckpts, p.log.LogEndOffset())
				}
			}
			syncLog(t, p.log)
			after := fsys.Reboot(nil)
			p.log.Close()
			tc.damage(t, after, ckpts[1])
			p = openSnapPartition(t, after)
			defer p.log.Close()
			rs := p.RestoreStats()
			if want := tc.wantLoaded(ckpts[1], ckpts[0]); rs.SnapshotOffset != want {
				t.Fatalf("restore %+v, want the snapshot at %d loaded", rs, want)
			}
			if want := rebuiltFromLog(t, p); !reflect.DeepEqual(p.producers, want) {
				t.Fatalf("restored:\n%s\nwant\n%s", dumpProducers(p.producers), dumpProducers(want))
			}
			offs, _ := listSnapshots(after, snapDir)
			for _, o := range offs {
				if o > p.log.LogEndOffset() {
					t.Fatalf("snapshot %d past the log end %d kept", o, p.log.LogEndOffset())
				}
			}
		})
	}
}

// TestTruncationRemovesSnapshotsAboveTheCut: a follower cut below its
// newest snapshot restores from an older one (or the log), never from one
// describing batches the cut removed, even when other batches refill the
// same offsets.
func TestTruncationRemovesSnapshotsAboveTheCut(t *testing.T) {
	fsys := memfs.New()
	p := openSnapPartition(t, fsys)
	defer p.log.Close()
	for i := range 20 {
		produce(p, idempotentBatch(3, 0, int32(i), 1))
		if i == 9 || i == 19 {
			p.Checkpoint()
		}
	}
	if err := p.SetLeadership(Leadership{Leader: 2, LeaderEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}); err != nil {
		t.Fatal(err)
	}
	if err := p.TruncateTo(15); err != nil {
		t.Fatal(err)
	}
	if rs := p.RestoreStats(); rs.SnapshotOffset != 10 || rs.ReplayedBatches != 5 {
		t.Fatalf("restore after the cut %+v, want the snapshot at 10", rs)
	}
	if offs, _ := listSnapshots(fsys, snapDir); len(offs) != 1 || offs[0] != 10 {
		t.Fatalf("snapshots %v after a cut at 15", offs)
	}
	// The new leader's history: producer 4 from offset 15.
	var batches []byte
	for i := range 5 {
		b := idempotentBatch(4, 0, int32(i), 1)
		binary.BigEndian.PutUint64(b, uint64(15+i))
		batches = append(batches, b...)
	}
	if _, err := p.AppendReplicated(batches, nil); err != nil {
		t.Fatal(err)
	}
	syncLog(t, p.log)
	after := fsys.Reboot(nil)
	p.log.Close()
	p2 := openSnapPartition(t, after)
	defer p2.log.Close()
	if want := rebuiltFromLog(t, p2); !reflect.DeepEqual(p2.producers, want) || p2.producers[3].lastSeq() != 14 {
		t.Fatalf("restored %+v:\n%s\nwant\n%s", p2.RestoreStats(), dumpProducers(p2.producers), dumpProducers(want))
	}
}
