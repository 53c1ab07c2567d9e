package itest

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kadm"
)

// testLostLogDirRejoinsISROnlyCaughtUp: a follower is stopped, its
// partition directories are deleted (KIP-903's "lost its log dir"; its
// metadata log, meta.json and checkpoints kept) and it is started again.
// Under load (50,000 records before the stop, more during the catch-up)
// it must not be in the ISR while behind: sampling the leader's high
// watermark H, then the ISR, then the replica's log end on disk L, a
// sample with it in the ISR and L < H means it joined before it held
// what the ISR had acknowledged (an ISR member's log end is never below
// the high watermark). It must be seen part-way (0 < L < H, out of the
// ISR), then in.
//
// Losing the whole data directory, Raft log included, is not a case
// Chronik handles: the node rejoins the metadata shard under the same
// voter id with an empty log, and the shard leader, which remembers what
// that voter had acknowledged, sends it a commit index beyond its log:
// dragonboat panics ("invalid commitTo index") and the broker exits at
// start. A voter that lost its Raft state needs a membership change (a
// new voter id), which the static cluster config does not offer.
func testLostLogDirRejoinsISROnlyCaughtUp(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 120*time.Second)
	const topic = "fo-lost-logs"
	foCreateTopic(t, ctx, c, topic, 1, map[string]string{"min.insync.replicas": "2"})
	l := startFoLoad(t, ctx, c, topic, 1, foLoadOpts{perSecond: 10000})
	l.waitAcked(t, ctx, 50_000)
	l.setRate(2000)
	md := foMustMetadata(t, ctx, c, topic)
	leader, ctrl := md[0].Leader, foController(t, c)
	victim := foOther(leader, ctrl)
	if victim < 0 {
		victim = foOther(leader)
	}
	if err := c.Stop(victim); err != nil {
		t.Fatalf("stop broker %d: %v", victim, err)
	}
	dirs, err := wal.PartitionDirs(wal.OSFS(), c.Node(victim).DataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
	}
	restarted := time.Now()
	up := make(chan error, 1)
	go func() { up <- c.Restart(ctx, victim) }()
	s := foWatchCatchUp(t, ctx, c, topic, leader, victim, up)
	t.Logf("broker %d restarted without its %d partition directories: in the ISR of %s %v later; %d samples, %d part-way and out of the ISR (lag up to %d records), none in the ISR while behind",
		victim, len(dirs), topic, s.joined.Sub(restarted).Round(time.Millisecond), s.samples, s.partWay, s.maxLag)
	foWaitFullISR(t, ctx, c, "every replica of the restarted broker back in the ISR")
	l.finish(t, ctx)
	checkFoLoad(t, ctx, c, l, victim)
}

// catchUp is what foWatchCatchUp saw.
type catchUp struct {
	samples, partWay int
	maxLag           int64
	joined           time.Time
}

// foWatchCatchUp samples partition 0 of topic, while replica restarts (up
// delivers the outcome of its Restart) and until it has been in the ISR
// for 20 samples in a row: the leader's high watermark H (ListOffsets
// through the leader), then the ISR (the leader's Metadata), then
// replica's log end on disk L. It fails the test on a sample with replica
// in the ISR and L < H, and if no sample showed it part-way (0 < L < H)
// out of the ISR.
func foWatchCatchUp(t *testing.T, ctx context.Context, c *testbed.Cluster, topic string, leader, replica int32, up <-chan error) catchUp {
	t.Helper()
	adm := kadm.NewClient(newClient(t, c.Node(leader).KafkaAddr))
	dir := partitionDir(c.Node(replica), topic, 0)
	var s catchUp
	for streak := 0; streak < 20; {
		select {
		case err := <-up:
			if err != nil {
				t.Fatalf("restart broker %d: %v", replica, err)
			}
		default:
		}
		ends, err := adm.ListEndOffsets(ctx, topic)
		o, _ := ends.Lookup(topic, 0)
		if err != nil || o.Err != nil {
			t.Fatalf("high watermark of %s-0: %v / %v", topic, err, o.Err)
		}
		hw := o.Offset
		md, err := partitionsAt(ctx, c.Node(leader).KafkaAddr, topic)
		if err != nil {
			t.Fatal(err)
		}
		inISR := slices.Contains(md[0].ISR, replica)
		leo := foLogEnd(t, dir)
		s.samples++
		switch {
		case inISR && leo < hw:
			t.Fatalf("broker %d is in the ISR of %s-0 (%v) with its log ending at %d, below the high watermark %d read before", replica, topic, md[0].ISR, leo, hw)
		case inISR:
			if streak == 0 {
				s.joined = time.Now()
			}
			streak++
			continue
		case leo > 0 && leo < hw:
			s.partWay++
			s.maxLag = max(s.maxLag, hw-leo)
		}
		streak = 0
		if ctx.Err() != nil {
			t.Fatalf("broker %d not in the ISR of %s-0 at the deadline: %d samples, log end %d, high watermark %d", replica, topic, s.samples, leo, hw)
		}
	}
	if s.partWay == 0 {
		t.Fatalf("broker %d was never seen part-way through its catch-up, out of the ISR (%d samples)", replica, s.samples)
	}
	return s
}

// foLogEnd is the offset after the last batch in a partition directory
// (read-only; 0 if the directory does not exist yet).
func foLogEnd(t *testing.T, dir string) int64 {
	t.Helper()
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return 0
	}
	end, err := eachBatch(dir, func(wal.BatchHeader) {})
	if err != nil {
		t.Fatal(err)
	}
	return end
}
