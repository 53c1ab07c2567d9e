package itest

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed"
)

// TestFailover runs the failover scenarios of issue 11 on one cluster of
// three broker processes (each scenario first waits until every broker
// runs and every ISR is whole again, and uses its own topic). Each one
// puts idempotent acks=-1 franz-go load through its faults and ends by
// checking the data, not only liveness: every acknowledged record present
// once, at its acknowledged offset, in produce order, offsets dense, and
// every replica holding the same batches (failover_check_test.go).
func TestFailover(t *testing.T) {
	c := startFailoverCluster(t)
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *testbed.Cluster)
	}{
		{"AckedRecordsSurviveFiveLeaderKills", testAckedRecordsSurviveFiveLeaderKills},
		{"TwoFailoversBackToBack", testTwoFailoversBackToBack},
		{"ZombieLeaderWritesNothingAcknowledged", testZombieLeaderWritesNothingAcknowledged},
		{"RollingRestartWithSIGTERM", testRollingRestartWithSIGTERM},
		{"LostLogDirRejoinsISROnlyCaughtUp", testLostLogDirRejoinsISROnlyCaughtUp},
		{"GroupKeepsCommitsAcrossCoordinatorKill", testGroupKeepsCommitsAcrossCoordinatorKill},
		{"LibrdkafkaProducesThroughLeaderKill", testLibrdkafkaProducesThroughLeaderKill},
		{"KafkaJSProducesThroughLeaderKill", testKafkaJSProducesThroughLeaderKill},
	} {
		t.Run(sc.name, func(t *testing.T) {
			start := time.Now()
			foHeal(t, testContext(t, 60*time.Second), c)
			sc.run(t, c)
			t.Logf("%s took %v", sc.name, time.Since(start).Round(time.Millisecond))
		})
	}
}

// testAckedRecordsSurviveFiveLeaderKills: kill -9 of a partition leader
// under idempotent acks=-1 load (min.insync.replicas=2), five times in a
// row, the controller's broker among them; each killed broker is
// restarted and back in every ISR before the next kill. Nothing
// acknowledged is lost or duplicated, order holds, and the client sees no
// produce error after its retries.
func testAckedRecordsSurviveFiveLeaderKills(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 120*time.Second)
	const topic, parts = "fo-kill", 3
	foCreateTopic(t, ctx, c, topic, parts, map[string]string{"min.insync.replicas": "2"})
	l := startFoLoad(t, ctx, c, topic, parts, foLoadOpts{})
	all := []int32{0, 1, 2}
	killedController := 0
	for round := range 5 {
		l.waitAcksAfter(t, ctx, all, time.Now(), "load flowing before the kill")
		md := foMustMetadata(t, ctx, c, topic)
		ctrl := foController(t, c)
		victim := foPickVictim(md, ctrl, round%2 == 1)
		led := foLedBy(md, victim)
		kill := time.Now()
		if err := c.Kill(victim); err != nil {
			t.Fatal(err)
		}
		if victim == ctrl {
			killedController++
		}
		watcher := foOther(victim)
		for _, p := range led {
			old := md[p]
			foWaitPartition(t, ctx, c, watcher, topic, p, "a new leader after the kill", func(pi partState) bool {
				return pi.Leader >= 0 && pi.Leader != victim && pi.LeaderEpoch > old.LeaderEpoch
			})
		}
		elected := time.Since(kill)
		gap := l.waitAcksAfter(t, ctx, led, kill, "produce after the kill")
		t.Logf("round %d: kill -9 of broker %d (controller: %v), leader of %v: new leaders in metadata after %v; first ack of a record sent after the kill %v after it",
			round, victim, victim == ctrl, led, elected.Round(time.Millisecond), gap.Round(time.Millisecond))
		if err := c.Restart(ctx, victim); err != nil {
			t.Fatalf("restart broker %d: %v", victim, err)
		}
		foWaitFullISR(t, ctx, c, "the restarted broker back in every ISR")
	}
	if killedController == 0 {
		t.Errorf("no round killed the controller's broker (it led no partition of %s when its turn came)", topic)
	}
	l.finish(t, ctx)
	checkFoLoad(t, ctx, c, l, 1)
}

// foPickVictim returns the controller's broker if ctrl is wanted and
// leads a partition of md, else the leader of the lowest partition not led
// by the controller (or, if it leads them all, the controller).
func foPickVictim(md map[int32]partState, ctrl int32, wantCtrl bool) int32 {
	if wantCtrl && len(foLedBy(md, ctrl)) > 0 {
		return ctrl
	}
	ps := slices.Sorted(maps.Keys(md))
	for _, p := range ps {
		if md[p].Leader != ctrl {
			return md[p].Leader
		}
	}
	return ctrl
}

// testTwoFailoversBackToBack: the leader of a partition (RF=3,
// min.insync.replicas=1) is killed, and its successor as soon as
// Metadata names it, before the first is back. The metadata quorum is
// the same three nodes, so with two of them down nothing can be
// decided: the partition stays led by the dead successor and produce
// stalls (the client retries) until the first broker returns; then the
// controller fences the successor and the last replica leads, taking
// writes alone (min.insync.replicas=1) before the others catch up. After
// both are back nothing acknowledged is lost or duplicated, and the
// successor's unreplicated tail, if any, is truncated.
func testTwoFailoversBackToBack(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 90*time.Second)
	const topic = "fo-double"
	foCreateTopic(t, ctx, c, topic, 1, map[string]string{"min.insync.replicas": "1"})
	l := startFoLoad(t, ctx, c, topic, 1, foLoadOpts{})
	l.waitAcksAfter(t, ctx, []int32{0}, time.Now(), "load flowing before the kills")
	before := foMustMetadata(t, ctx, c, topic)[0]
	first := before.Leader
	kill1 := time.Now()
	if err := c.Kill(first); err != nil {
		t.Fatal(err)
	}
	watcher := foOther(first)
	next := foWaitPartition(t, ctx, c, watcher, topic, 0, "a successor after the first kill", func(pi partState) bool {
		return pi.Leader >= 0 && pi.Leader != first && pi.LeaderEpoch > before.LeaderEpoch
	})
	second := next.Leader
	if err := c.Kill(second); err != nil {
		t.Fatal(err)
	}
	kill2 := time.Now()
	last := foOther(first, second)
	t.Logf("killed leader %d, then its successor %d %v later; broker %d is left, without a metadata quorum",
		first, second, kill2.Sub(kill1).Round(time.Millisecond), last)

	time.Sleep(2 * time.Second) // the client retries against a partition nobody can lead
	restart1 := time.Now()
	// Nobody may have taken a write meanwhile (an answer already on its
	// way when the successor died may arrive a little later).
	if n := len(l.ackTimesBetween(0, kill2.Add(100*time.Millisecond), restart1)); n > 0 {
		t.Errorf("%d records acknowledged while two of three brokers were down (no metadata quorum, no live leader)", n)
	}
	if err := c.Restart(ctx, first); err != nil {
		t.Fatalf("restart broker %d: %v", first, err)
	}
	lp := foWaitPartition(t, ctx, c, last, topic, 0, "the last replica leading once the quorum is back", func(pi partState) bool {
		return pi.Leader == last
	})
	gap := l.waitAcksAfter(t, ctx, []int32{0}, restart1, "produce after the first broker returned")
	t.Logf("broker %d restarted: broker %d leads at epoch %d (ISR %v) %v later; first ack of a record sent after the restart %v after it",
		first, last, lp.LeaderEpoch, lp.ISR, time.Since(restart1).Round(time.Millisecond), gap.Round(time.Millisecond))
	if err := c.Restart(ctx, second); err != nil {
		t.Fatalf("restart broker %d: %v", second, err)
	}
	foWaitFullISR(t, ctx, c, "both killed brokers back in every ISR")
	l.finish(t, ctx)
	checkFoLoad(t, ctx, c, l, second)
}

// testRollingRestartWithSIGTERM: each broker in turn is stopped with
// SIGTERM (controlled shutdown: the controller moves its leaderships to
// other in-sync replicas first), restarted, and waited for until it is
// back in every ISR. Under idempotent acks=-1 load over 9 partitions no
// produce fails (retries allowed), nothing is lost or duplicated, and
// after the last restart the preferred leaders take their partitions back
// (leader.imbalance.check.interval.seconds=5): 3 of 9 each.
func testRollingRestartWithSIGTERM(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 120*time.Second)
	const topic, parts = "fo-rolling", 9
	foCreateTopic(t, ctx, c, topic, parts, map[string]string{"min.insync.replicas": "2"})
	l := startFoLoad(t, ctx, c, topic, parts, foLoadOpts{})
	all := make([]int32, parts)
	for i := range all {
		all[i] = int32(i)
	}
	for _, id := range []int32{1, 2, 3} {
		l.waitAcksAfter(t, ctx, all, time.Now(), "load flowing before the stop")
		led := foLedBy(foMustMetadata(t, ctx, c, topic), id)
		stop := time.Now()
		if err := c.Stop(id); err != nil {
			t.Fatalf("SIGTERM broker %d: %v", id, err)
		}
		stopped := time.Since(stop)
		if err := c.Restart(ctx, id); err != nil {
			t.Fatalf("restart broker %d: %v", id, err)
		}
		foWaitFullISR(t, ctx, c, "the restarted broker back in every ISR")
		var worst time.Duration
		var worstAt time.Time
		worstP := int32(-1)
		for _, p := range led {
			if gap, at := l.maxAckGap(p, stop.Add(-time.Second), time.Now()); gap > worst {
				worst, worstAt, worstP = gap, at, p
			}
		}
		gapNote := "it led none"
		if worstP >= 0 {
			gapNote = fmt.Sprintf("longest ack gap on its partitions %v (partition %d, from %s, %v after the SIGTERM)",
				worst.Round(time.Millisecond), worstP, worstAt.Format("15:04:05.000"), worstAt.Sub(stop).Round(time.Millisecond))
		}
		t.Logf("broker %d (leader of %v) stopped in %v, restarted and in every ISR %v after the SIGTERM; %s",
			id, led, stopped.Round(time.Millisecond), time.Since(stop).Round(time.Millisecond), gapNote)
	}
	last := time.Now()
	balanced := func() bool {
		md := foMustMetadata(t, ctx, c, topic)
		for _, id := range []int32{1, 2, 3} {
			if len(foLedBy(md, id)) != parts/3 {
				return false
			}
		}
		return true
	}
	for !balanced() {
		if time.Since(last) > 15*time.Second {
			t.Fatalf("leaders of %s not balanced 15 s after the last restart: %+v", topic, foMustMetadata(t, ctx, c, topic))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("leaders balanced (3 of 9 each) %v after the last broker was back in every ISR", time.Since(last).Round(time.Millisecond))
	l.finish(t, ctx)
	checkFoLoad(t, ctx, c, l, 2)
}
