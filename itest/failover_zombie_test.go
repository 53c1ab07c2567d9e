package itest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testZombieLeaderWritesNothingAcknowledged: the leader of a partition
// (not the controller's broker) is frozen with SIGSTOP under acks=-1 load;
// its session times out, the controller elects another leader, and the
// load goes on there (its requests to the frozen broker time out after
// 2 s and are retried). Woken with SIGCONT, the old leader must not
// acknowledge anything: a probe producing to it directly gets errors
// until it has learned its new epoch, then NOT_LEADER_OR_FOLLOWER, and
// its writes (the probe's included) are truncated when it rejoins: its
// log equals the new leader's and holds only records of the load. (A
// probe is queued in the frozen broker's socket, so the first thing it
// reads on waking is a write it may take before it learns its epoch.)
func testZombieLeaderWritesNothingAcknowledged(t *testing.T, c *testbed.Cluster) {
	ctx := testContext(t, 90*time.Second)
	const topic, parts = "fo-zombie", 3
	foCreateTopic(t, ctx, c, topic, parts, map[string]string{"min.insync.replicas": "2"})
	l := startFoLoad(t, ctx, c, topic, parts, foLoadOpts{extra: []kgo.Opt{
		kgo.ProduceRequestTimeout(1500 * time.Millisecond), kgo.RequestTimeoutOverhead(500 * time.Millisecond)}})
	l.waitAcksAfter(t, ctx, []int32{0, 1, 2}, time.Now(), "load flowing before the pause")
	md := foMustMetadata(t, ctx, c, topic)
	ctrl := foController(t, c)
	zombie := foPickVictim(md, ctrl, false)
	if zombie == ctrl {
		t.Fatalf("the controller %d leads every partition of %s: %+v", ctrl, topic, md)
	}
	led := foLedBy(md, zombie)

	probes := map[int32]*zombieProbe{}
	for _, p := range led {
		probes[p] = newZombieProbe(t, c.Node(zombie).KafkaAddr, topic, p)
	}
	paused := time.Now()
	if err := c.Pause(zombie); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Continue(zombie) }) // if the test stops early
	watcher := foOther(zombie)
	for _, p := range led {
		old := md[p]
		foWaitPartition(t, ctx, c, watcher, topic, p, "a new leader while the old one is frozen", func(pi partState) bool {
			return pi.Leader >= 0 && pi.Leader != zombie && pi.LeaderEpoch > old.LeaderEpoch
		})
	}
	elected := time.Now()
	gap := l.waitAcksAfter(t, ctx, led, elected, "produce to the new leader while the old one is frozen")
	time.Sleep(time.Second) // more records through the new leader
	for _, z := range probes {
		z.send() // queued in the frozen broker's socket: read when it wakes, maybe before it learns its epoch
	}
	time.Sleep(200 * time.Millisecond) // the probes written (send writes in the background)
	t.Logf("broker %d frozen, leader of %v: new leaders in metadata after %v; first ack of a record sent after the election %v after it",
		zombie, led, elected.Sub(paused).Round(time.Millisecond), gap.Round(time.Millisecond))

	if err := c.Continue(zombie); err != nil {
		t.Fatal(err)
	}
	woke := time.Now()
	for _, p := range led {
		probes[p].answer(t)
		probes[p].untilNotLeader(t, ctx)
	}
	t.Logf("broker %d woke: NOT_LEADER_OR_FOLLOWER on every partition it led after %v", zombie, time.Since(woke).Round(time.Millisecond))
	foWaitFullISR(t, ctx, c, "the old leader back in every ISR")
	l.finish(t, ctx)
	checkFoLoad(t, ctx, c, l, watcher)
	if v, ok := foMetric(t, ctx, c, zombie, "chronik_replication_truncations_total"); ok {
		t.Logf("broker %d truncations after rejoining: %s", zombie, v)
	}
}

// zombieProbe produces (Produce v7, acks=-1, 300 ms timeout) to a
// partition at the old leader, over its own connection. Its values are
// not the load's: if one were kept, the final check would report it.
type zombieProbe struct {
	raw     *rawConn
	topic   string
	p       int32
	n       int
	answers chan zombieAnswer // the answer of the probe in flight
	codes   map[int16]int     // answers other than success and NOT_LEADER_OR_FOLLOWER
}

// zombieAnswer is a probe's answer, or why there is none.
type zombieAnswer struct {
	resp *kmsg.ProduceResponse
	err  error
}

func newZombieProbe(t *testing.T, addr, topic string, p int32) *zombieProbe {
	return &zombieProbe{raw: dialRaw(t, addr), topic: topic, p: p, answers: make(chan zombieAnswer, 1), codes: map[int16]int{}}
}

// send writes the next probe; its answer is read in the background
// (rawConn.exchange), for answer to take.
func (z *zombieProbe) send() {
	rec := kmsg.NewRecord()
	rec.Value = []byte(fmt.Sprintf("zombie-probe-%d-%d", z.p, z.n))
	z.n++
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 7, -1, 300
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = z.topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = z.p, recordBatch(time.Now(), rec)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	go func() {
		resp := kmsg.NewPtrProduceResponse()
		err := z.raw.exchange(req, resp, time.Minute)
		z.answers <- zombieAnswer{resp, err}
	}()
}

// answer reads the last probe's answer; a success is a zombie's
// acknowledgement and fails the test. It reports whether the answer was
// NOT_LEADER_OR_FOLLOWER.
func (z *zombieProbe) answer(t *testing.T) bool {
	t.Helper()
	a := <-z.answers
	if a.err != nil {
		t.Fatalf("probe %d on %s-%d: %v", z.n-1, z.topic, z.p, a.err)
	}
	resp := a.resp
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("probe %d on %s-%d: answer %+v", z.n-1, z.topic, z.p, resp.Topics)
	}
	switch code := resp.Topics[0].Partitions[0].ErrorCode; code {
	case 0:
		t.Errorf("the old leader acknowledged probe %d on %s-%d after its replacement", z.n-1, z.topic, z.p)
	case kerr.NotLeaderForPartition.Code:
		return true
	default:
		z.codes[code]++
	}
	return false
}

// untilNotLeader probes until the old leader answers
// NOT_LEADER_OR_FOLLOWER.
func (z *zombieProbe) untilNotLeader(t *testing.T, ctx context.Context) {
	t.Helper()
	for {
		z.send()
		if z.answer(t) {
			t.Logf("probe %s-%d: %d probes, answers other than NOT_LEADER_OR_FOLLOWER (code: count) %v", z.topic, z.p, z.n, z.codes)
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the old leader never answered NOT_LEADER_OR_FOLLOWER for %s-%d; answers (code: count) %v", z.topic, z.p, z.codes)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
