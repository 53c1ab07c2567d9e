package itest

import (
	"context"
	"github.com/chronik/chronik/testbed"
	"slices"
	"testing"
	"time"
)

// TestDiskFailure: disk faults switched on a live broker of a 3-broker
// RF=3 cluster running bin/chronik-debug (POST /debug/disk), under
// idempotent acks=-1 load with min.insync.replicas=2, each scenario ending
// with the failover scenarios' data check (every acknowledged record once,
// in order, offsets dense, every replica identical).
func TestDiskFailure(t *testing.T) {
	c := startFailoverClusterOf(t, debugBinaryPath(t))
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *testbed.Cluster)
	}{
		{"FailedFsyncOnALeaderMovesItsLeadershipsAway", testFailedFsyncOnALeaderMovesItsLeadershipsAway},
		{"SlowDiskOnALeaderLosesNothing", testSlowDiskOnALeaderLosesNothing},
	} {
		t.Run(sc.name, func(t *testing.T) {
			foHeal(t, testContext(t, 60*time.Second), c)
			sc.run(t, c)
		})
	}
}

// startDiskScenario creates topic (parts partitions, min.insync.replicas
// 2), starts the load on it and returns it once every partition
// acknowledges, with the metadata then and the victim: a partition
// leader other than the controller's broker when there is one.
func startDiskScenario(t *testing.T, ctx context.Context, c *testbed.Cluster, topic string, parts int) (*foLoad, map[int32]partState, int32) {
	t.Helper()
	foCreateTopic(t, ctx, c, topic, int32(parts), map[string]string{"min.insync.replicas": "2"})
	l := startFoLoad(t, ctx, c, topic, parts, foLoadOpts{})
	var all []int32
	for p := range int32(parts) {
		all = append(all, p)
	}
	l.waitAcksAfter(t, ctx, all, time.Now(), "load flowing before the fault")
	md := foMustMetadata(t, ctx, c, topic)
	return l, md, foPickVictim(md, foController(t, c), false)
}

// testFailedFsyncOnALeaderMovesItsLeadershipsAway: fdatasync starts
// failing (EIO) on the leader of some partitions. The broker must stop
// acknowledging (its acks=-1 waits fail with KAFKA_STORAGE_ERROR), leave
// every ISR and give up every leadership at once (it tells the
// controller; nobody waits for a session to expire: the process stays up
// and keeps heartbeating), and the producers go on through the new
// leaders. Restarted (the fault is gone with the process), it recovers,
// truncates as a follower and is back in every ISR; nothing it had
// acknowledged is lost.
func testFailedFsyncOnALeaderMovesItsLeadershipsAway(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 120*time.Second)
	const topic, parts = "fo-disk-fsync", 3
	l, md, victim := startDiskScenario(t, ctx, c, topic, parts)
	led := foLedBy(md, victim)
	at := time.Now()
	if err := c.SetDiskFault(ctx, victim, "fsync", 0); err != nil {
		t.Fatal(err)
	}
	watcher := foOther(victim)
	// The broker keeps heartbeating: if it did not tell the controller,
	// nothing would ever move (30 s is only a bound on the test).
	moveCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for p := range int32(parts) {
		old := md[p]
		foWaitPartition(t, moveCtx, c, watcher, topic, p, "the failed broker out of the ISR and leadership", func(pi partState) bool {
			return pi.Leader >= 0 && pi.Leader != victim && !slices.Contains(pi.ISR, victim) &&
				(old.Leader != victim || pi.LeaderEpoch > old.LeaderEpoch)
		})
	}
	moved := time.Since(at)
	gap := l.waitAcksAfter(t, ctx, led, at, "produce after the fault")
	if c.Node(victim).Proc.Pid() == 0 {
		t.Fatalf("broker %d exited after its disk failed; it should stay up and hand its leaderships over", victim)
	}
	t.Logf("fsync fails on broker %d, leader of %v: out of every ISR and leadership after %v; first ack of a record sent after the fault %v after it",
		victim, led, moved.Round(time.Millisecond), gap.Round(time.Millisecond))
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx, victim); err != nil {
		t.Fatalf("restart broker %d: %v", victim, err)
	}
	foWaitFullISR(t, ctx, c, "the restarted broker back in every ISR")
	l.finish(t, ctx)
	checkFoLoad(t, ctx, c, l, watcher)
}

// testSlowDiskOnALeaderLosesNothing: every fdatasync of a leader takes
// 200 ms longer for a few seconds. Acknowledgements slow down, nothing
// fails for good, nothing is lost; the fault is switched off live.
func testSlowDiskOnALeaderLosesNothing(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 120*time.Second)
	l, md, victim := startDiskScenario(t, ctx, c, "fo-disk-slow", 3)
	if err := c.SetDiskFault(ctx, victim, "slow", 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	l.waitAcksAfter(t, ctx, foLedBy(md, victim), time.Now(), "produce on the slow disk")
	if err := c.SetDiskFault(ctx, victim, "off", 0); err != nil {
		t.Fatal(err)
	}
	l.waitAcksAfter(t, ctx, []int32{0, 1, 2}, time.Now(), "produce after the slow disk")
	l.finish(t, ctx)
	checkFoLoad(t, ctx, c, l, victim)
}
