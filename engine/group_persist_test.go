package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/chronik/chronik/wal"
	"github.com/chronik/chronik/wal/vfs/memfs"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startBrokerFS is startBroker on a given file system (a memfs.FS for crashes).
func startBrokerFS(t *testing.T, fsys wal.FS, mutators ...func(*engine.Config)) *testBroker {
	t.Helper()
	cfg := engine.DefaultConfig()
	cfg.DataDir = "/data"
	cfg.Listen = "127.0.0.1:0"
	for _, m := range mutators {
		m(&cfg)
	}
	tb := &testBroker{t: t, cfg: cfg, fs: fsys}
	tb.start()
	t.Cleanup(tb.stop)
	return tb
}

// crash stops the broker as a power cut would: the server goes, the memfs.FS
// drops everything not fsync'd, and the engine is closed with every file
// operation failing, so that nothing more reaches the "disk".
func (tb *testBroker) crash(m *memfs.FS) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tb.srv.Stop(ctx); err != nil {
		tb.t.Errorf("stop server: %v", err)
	}
	m.Crash()
	boom := errors.New("crashed")
	for _, op := range []string{memfs.OpOpen, memfs.OpWrite, memfs.OpSync, memfs.OpRename, memfs.OpTruncate, memfs.OpRemove, memfs.OpMkdir} {
		m.InjectError(op, "", boom)
	}
	tb.b.Close() // fails: the process is "dead"
	m.ClearErrors()
	tb.srv, tb.b = nil, nil
}

func commitOffsets(t *testing.T, adm *kadm.Client, group string, offsets map[int32]int64, topic, meta string) {
	t.Helper()
	os := kadm.Offsets{}
	for p, o := range offsets {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: o, LeaderEpoch: -1, Metadata: meta})
	}
	resp, err := adm.CommitOffsets(ctxT(t, 10*time.Second), group, os)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	if err := resp.Error(); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

func checkCommitted(t *testing.T, adm *kadm.Client, group, topic string, want map[int32]int64, meta string) {
	t.Helper()
	got, err := adm.FetchOffsets(ctxT(t, 10*time.Second), group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	for p, o := range want {
		r, ok := got.Lookup(topic, p)
		if !ok || r.Err != nil || r.At != o || r.Metadata != meta {
			t.Errorf("committed %s[%d] = %+v (found %v), want %d with metadata %q", topic, p, r, ok, o, meta)
		}
	}
}

func TestAcknowledgedCommitsSurviveCrash(t *testing.T) {
	mem := memfs.New()
	tb := startBrokerFS(t, mem, fastGroups)
	cl := tb.client()
	createTopic(t, cl, "crash", 3, nil)
	adm := kadm.NewClient(cl)
	want := map[int32]int64{0: 10, 1: 20, 2: 30}
	for i := range int64(5) {
		for p := range want {
			want[p] += i
		}
		commitOffsets(t, adm, "survivor", want, "crash", fmt.Sprintf("meta-%d", i))
	}
	tb.crash(mem)
	tb.start()
	checkCommitted(t, kadm.NewClient(tb.client()), "survivor", "crash", want, "meta-4")
}

// A commit is answered only once it is durable: when the internal log's
// fdatasync fails, the commit is not acknowledged.
func TestCommitIsNotAcknowledgedWhenSyncFails(t *testing.T) {
	mem := memfs.New()
	tb := startBrokerFS(t, mem, fastGroups, func(c *engine.Config) { c.OffsetsTopicPartitions = 1 })
	cl := tb.client(kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
	createTopic(t, cl, "durable", 1, nil)
	adm := kadm.NewClient(cl)
	commitOffsets(t, adm, "d", map[int32]int64{0: 1}, "durable", "")
	mem.InjectError(memfs.OpSync, "__consumer_offsets", errors.New("disk gone"))
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group = "d"
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "durable"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = 2
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t, 10*time.Second), cl)
	if err == nil && resp.Topics[0].Partitions[0].ErrorCode == 0 {
		t.Fatal("commit acknowledged although its fdatasync failed")
	}
	if err == nil && resp.Topics[0].Partitions[0].ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("commit with failed sync: %v, want NOT_COORDINATOR", kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode))
	}
	tb.crash(mem) // the internal log's write error is sticky: no clean close
}

func TestGroupResumesFromCommittedOffsetsAfterBrokerRestart(t *testing.T) {
	tb := startBroker(t, fastGroups)
	prod := tb.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, prod, "resume", 2, nil)
	produceN(t, prod, "resume", 0, 100, 2)
	run := newGroupRun()
	m := startMember(t, tb, run, 0, "resumers", "resume")
	waitConsumed(t, run, 100)
	checkLagZero(t, kadm.NewClient(prod), "resumers", "resume")
	m.stop()
	tb.restart()
	prod = tb.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceN(t, prod, "resume", 100, 50, 2)
	m = startMember(t, tb, run, 1, "resumers", "resume")
	waitConsumed(t, run, 150)
	m.stop()
	if got := run.memberCount(1); got != 50 {
		t.Fatalf("after restart the group consumed %d records, want the 50 new ones only", got)
	}
}

func TestInternalLogIsCompacted(t *testing.T) {
	tb := startBroker(t, fastGroups, func(c *engine.Config) {
		c.OffsetsTopicPartitions = 1
		c.OffsetsTopicSegmentBytes = 4096
	})
	cl := tb.client()
	createTopic(t, cl, "compact", 2, nil)
	adm := kadm.NewClient(cl)
	const commits = 600
	for i := range int64(commits) {
		commitOffsets(t, adm, "busy", map[int32]int64{0: i, 1: 2 * i}, "compact", "m")
	}
	commitOffsets(t, adm, "gone", map[int32]int64{0: 7}, "compact", "")
	if resp, err := adm.DeleteGroups(ctxT(t, 10*time.Second), "gone"); err != nil || resp.Error() != nil {
		t.Fatalf("delete group: %v %v", err, resp.Error())
	}
	dir := filepath.Join(tb.cfg.DataDir, "__consumer_offsets-0")
	eventually(t, 10*time.Second, func() error {
		starts, err := adm.ListStartOffsets(ctxT(t, 5*time.Second), "__consumer_offsets")
		if err != nil {
			return err
		}
		ends, err := adm.ListEndOffsets(ctxT(t, 5*time.Second), "__consumer_offsets")
		if err != nil {
			return err
		}
		s, _ := starts.Lookup("__consumer_offsets", 0)
		e, _ := ends.Lookup("__consumer_offsets", 0)
		segs := countSegments(t, dir)
		// 2*commits+3 records were written; compaction keeps about a
		// segment's worth of them (4 KiB, ~60 records) plus the snapshot.
		if e.Offset-s.Offset > 200 || segs > 4 {
			return fmt.Errorf("internal log holds offsets %d..%d in %d segments: not compacted", s.Offset, e.Offset, segs)
		}
		return nil
	})
	tb.restart()
	adm = kadm.NewClient(tb.client())
	checkCommitted(t, adm, "busy", "compact", map[int32]int64{0: commits - 1, 1: 2 * (commits - 1)}, "m")
	groups, err := adm.ListGroups(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := groups["gone"]; ok || len(groups) != 1 {
		t.Fatalf("groups after restart: %v, want only busy", groups.Groups())
	}
}

func countSegments(t *testing.T, dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".log") {
			n++
		}
	}
	return n
}
