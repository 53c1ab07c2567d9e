package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/chronik/chronik/testbed/streamcheck"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The failover scenario (chronik-bench failover): a 3-broker RF=3 cluster
// started by the testbed, idempotent acks=-1 franz-go producers at a fixed
// rate over several partitions, and a sequence of events, each on a
// steady cluster (every partition led by its preferred replica, every
// ISR full, every partition taking writes):
//
//	kill9-leader      kill -9 of a broker leading partitions, not the controller
//	kill9-controller  kill -9 of the controller's broker (it leads partitions too)
//	sigterm-leader    SIGTERM (controlled shutdown) of a leader, not the controller
//
// An event's time K is taken just before the signal is sent. For every
// partition the victim led or followed at K, the recorder notes the first
// acknowledgement of a record handed to the client (Produce called) at or
// after K, and the longest gap between successive acknowledgements from
// K until the victim is restarted. The victim stays down Down after all
// those partitions took such a record, is restarted, and the next event
// waits until it is back in every ISR and leads its preferred partitions
// again (auto.leader.rebalance.enable). At the end every acknowledged
// record is read back and checked (streamcheck).

// Event kinds of the failover scenario.
const (
	EventKillLeader     = "kill9-leader"
	EventKillController = "kill9-controller"
	EventTermLeader     = "sigterm-leader"
)

// FailoverConfig is one failover run.
type FailoverConfig struct {
	Bin        string // the chronik binary
	Dir        string // the cluster's work directory (testbed layout)
	Partitions int    // of the topic, RF=3, min.insync.replicas=2
	Producers  int    // idempotent acks=-1 clients, seeded at brokers in turn
	Rate       int    // records per second per producer, round-robin over partitions

	Kills           int // kill9-leader events
	ControllerKills int // kill9-controller events
	Terminates      int // sigterm-leader events

	Down           time.Duration // a victim stays down this long after its partitions took writes
	MetadataMinAge time.Duration // the producers' kgo.MetadataMinAge (kgo's default: 5 s)
	RetryBackoff   time.Duration // when > 0, the producers' fixed kgo retry backoff (kgo's default: 250 ms doubling to 5 s, jittered)
	EventTimeout   time.Duration // per event: until every watched partition took a write
	SteadyTimeout  time.Duration // per event: until the cluster is steady again

	// ClientLog, when set, gets producer 0's kgo debug log (metadata
	// refreshes, retries, connections), each line stamped, for finding
	// where a failover's time goes on the client side.
	ClientLog io.Writer

	// Properties are broker properties added to FailoverProperties.
	Properties map[string]string
	Log        *slog.Logger
}

// DefaultFailoverConfig is chronik-bench failover's defaults.
func DefaultFailoverConfig() FailoverConfig {
	return FailoverConfig{Partitions: 6, Producers: 3, Rate: 1000, Kills: 20, ControllerKills: 5, Terminates: 5,
		Down: 500 * time.Millisecond, MetadataMinAge: 250 * time.Millisecond,
		EventTimeout: 30 * time.Second, SteadyTimeout: 60 * time.Second}
}

// FailoverProperties are the brokers' properties in the scenario: the
// liveness settings are the defaults (broker.heartbeat.interval.ms 100,
// broker.session.timeout.ms 1000); only the preferred-leader check runs
// every second instead of every 5 s, which shortens the wait between
// events and changes nothing while a victim is down (it is not eligible).
var FailoverProperties = map[string]string{"leader.imbalance.check.interval.seconds": "1"}

func (c FailoverConfig) validate() error {
	switch {
	case c.Bin == "" || c.Dir == "":
		return errors.New("failover: need a binary and a work directory")
	case c.Partitions < 3 || c.Producers < 1 || c.Rate < 10:
		return fmt.Errorf("failover: need >= 3 partitions, >= 1 producer, rate >= 10/s (got %d, %d, %d)", c.Partitions, c.Producers, c.Rate)
	case c.Kills < 0 || c.ControllerKills < 0 || c.Terminates < 0 || c.Kills+c.ControllerKills+c.Terminates == 0:
		return errors.New("failover: need at least one event")
	case c.EventTimeout <= 0 || c.SteadyTimeout <= 0:
		return errors.New("failover: timeouts must be positive")
	}
	return nil
}

// failoverTopic is the topic the producers write.
const failoverTopic = "failover"

// RunFailover runs the scenario and returns its result; the cluster is
// stopped (by pid) before it returns. progress, when not nil, gets one
// line per event.
func RunFailover(ctx context.Context, cfg FailoverConfig, progress io.Writer) (*FailoverResult, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if progress == nil {
		progress = io.Discard
	}
	props := map[string]string{}
	for _, m := range []map[string]string{FailoverProperties, cfg.Properties} {
		for k, v := range m {
			props[k] = v
		}
	}
	c, err := testbed.Start(testbed.Config{Bin: cfg.Bin, Nodes: 3, Dir: cfg.Dir, Properties: props})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	res, err := runFailoverOn(ctx, c, cfg, progress)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, c.Logs())
	}
	return res, nil
}

func runFailoverOn(ctx context.Context, c *testbed.Cluster, cfg FailoverConfig, progress io.Writer) (*FailoverResult, error) {
	if err := createFailoverTopic(ctx, c.Node(1).KafkaAddr, cfg.Partitions); err != nil {
		return nil, err
	}
	rec := newFailoverRecorder(cfg.Partitions)
	if _, err := waitSteady(ctx, c, nil, cfg.SteadyTimeout); err != nil {
		return nil, fmt.Errorf("before the producers: %w", err)
	}
	stop := make(chan struct{})
	var loads sync.WaitGroup
	var clients []*kgo.Client
	defer func() {
		for _, cl := range clients {
			cl.Close()
		}
	}()
	for i := range cfg.Producers {
		opts := cfg.producerOpts(c.Nodes[i%len(c.Nodes)].KafkaAddr)
		if i == 0 && cfg.ClientLog != nil {
			opts = append(opts, kgo.WithLogger(kgo.BasicLogger(cfg.ClientLog, kgo.LogLevelDebug, func() string {
				return time.Now().UTC().Format("2006-01-02T15:04:05.000000Z ")
			})))
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			close(stop)
			return nil, err
		}
		clients = append(clients, cl)
		loads.Add(1)
		go func() { defer loads.Done(); produceAtRate(ctx, rec, cl, i, cfg.Partitions, cfg.Rate, stop) }()
	}
	res := &FailoverResult{Config: cfg.summary()}
	var runErr error
	for i, kind := range failoverSchedule(cfg) {
		ev, err := runEvent(ctx, c, rec, cfg, kind, i)
		if err != nil {
			runErr = fmt.Errorf("event %d (%s): %w", i+1, kind, err)
			break
		}
		res.Events = append(res.Events, ev)
		fmt.Fprintf(progress, "%3d %-16s broker %d%s: %s\n", i+1, kind, ev.Victim, map[bool]string{true: " (controller)"}[ev.Controller], ev.brief())
	}
	close(stop)
	loads.Wait()
	for _, cl := range clients {
		if err := cl.Flush(ctx); err != nil && runErr == nil {
			runErr = fmt.Errorf("flush the producers: %w", err)
		}
	}
	if runErr != nil {
		return nil, runErr
	}
	acked, nErrs, firstErrs := rec.book()
	recs, ends, err := streamcheck.ReadTopic(ctx, c.Node(1).KafkaAddr, failoverTopic)
	if err != nil {
		return nil, err
	}
	res.finish(streamcheck.Check(recs, acked, ends), nErrs, firstErrs)
	return res, nil
}

// producerOpts are the options of a producer seeded at addr: idempotent
// (kgo's default), acks=-1, partitions chosen by the record.
func (c FailoverConfig) producerOpts(addr string) []kgo.Opt {
	// AlwaysRetryEOF: a broker killed with a request unread on a new
	// connection closes it (FIN), and franz-go takes an EOF on a
	// connection's first response for a SASL or TLS mismatch and fails
	// the records for good. In a `go test -race` of the whole tree a
	// producer's first InitProducerID was pending on the victim of the
	// first kill, and its first 14 records failed so ("broker closed the
	// connection immediately after a request was issued"); itest's
	// failover producers had met the same.
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MetadataMinAge(c.MetadataMinAge), kgo.AlwaysRetryEOF()}
	if c.RetryBackoff > 0 {
		opts = append(opts, kgo.RetryBackoffFn(func(int) time.Duration { return c.RetryBackoff }))
	}
	return opts
}

// failoverSchedule spreads the kinds evenly over the run, so that what
// else the machine does weighs on every kind alike.
func failoverSchedule(cfg FailoverConfig) []string {
	type slot struct {
		kind string
		at   float64
	}
	var slots []slot
	for _, k := range []struct {
		kind string
		n    int
	}{{EventKillLeader, cfg.Kills}, {EventKillController, cfg.ControllerKills}, {EventTermLeader, cfg.Terminates}} {
		for i := range k.n {
			slots = append(slots, slot{k.kind, (float64(i) + 0.5) / float64(k.n)})
		}
	}
	slices.SortStableFunc(slots, func(a, b slot) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	})
	out := make([]string, len(slots))
	for i, s := range slots {
		out[i] = s.kind
	}
	return out
}

// produceAtRate produces (producer, 0, 1, ...) round-robin over parts
// partitions at rate records per second until stop is closed; a Produce
// blocked by a full client buffer delays the ones after it.
func produceAtRate(ctx context.Context, rec *failoverRecorder, cl *kgo.Client, producer, parts, rate int, stop <-chan struct{}) {
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for seq := 0; ; {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for due := int(time.Since(start).Seconds() * float64(rate)); seq < due; seq++ {
			rec.produce(ctx, cl, producer, seq, int32(seq%parts))
		}
	}
}

// clusterView is one broker's Metadata of the topic.
type clusterView struct {
	Controller int32
	Leader     []int32   // per partition
	Replicas   [][]int32 // per partition, preferred first
	ISR        [][]int32
}

func viewAt(ctx context.Context, addr string) (clusterView, error) {
	ctrl, ps, err := testbed.TopicMetadata(ctx, addr, failoverTopic)
	if err != nil {
		return clusterView{}, err
	}
	v := clusterView{Controller: ctrl, Leader: make([]int32, len(ps)), Replicas: make([][]int32, len(ps)), ISR: make([][]int32, len(ps))}
	for p, st := range ps {
		if p < 0 || int(p) >= len(ps) {
			return v, fmt.Errorf("metadata from %s: partition %d of %d", addr, p, len(ps))
		}
		v.Leader[p], v.Replicas[p], v.ISR[p] = st.Leader, st.Replicas, st.ISR
	}
	return v, nil
}

// unsteady says what keeps v from being steady with brokers live: every
// partition led by its preferred replica with every replica in its ISR.
func (v clusterView) unsteady(brokers int) string {
	if v.Controller < 1 {
		return "no controller"
	}
	for p, l := range v.Leader {
		switch {
		case len(v.Replicas[p]) != brokers:
			return fmt.Sprintf("partition %d has replicas %v", p, v.Replicas[p])
		case l != v.Replicas[p][0]:
			return fmt.Sprintf("partition %d led by %d, preferred %d", p, l, v.Replicas[p][0])
		case len(v.ISR[p]) != len(v.Replicas[p]):
			return fmt.Sprintf("partition %d ISR %v of %v", p, v.ISR[p], v.Replicas[p])
		}
	}
	return ""
}

// steadyPollInterval is how often waitSteady asks the brokers;
// steadyWriteWait is how long it waits for a write to every partition
// once they agree.
const (
	steadyPollInterval = 50 * time.Millisecond
	steadyWriteWait    = 2 * time.Second
)

// waitSteady waits until every broker sees the same steady view (same
// controller, leaders and ISRs) and, when rec is not nil, every partition
// took a write after that; it returns the view.
func waitSteady(ctx context.Context, c *testbed.Cluster, rec *failoverRecorder, timeout time.Duration) (clusterView, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "not asked yet"
	for {
		v, why := agreedView(ctx, c)
		if why == "" && rec != nil {
			why = rec.waitWrites(ctx, time.Now(), steadyWriteWait)
		}
		if why == "" {
			return v, nil
		}
		last = why
		select {
		case <-ctx.Done():
			return clusterView{}, fmt.Errorf("cluster not steady after %v: %s", timeout, last)
		case <-time.After(steadyPollInterval):
		}
	}
}

// agreedView asks every broker; "" and the view when all agree and it is
// steady, else why not.
func agreedView(ctx context.Context, c *testbed.Cluster) (clusterView, string) {
	var first clusterView
	for i, n := range c.Nodes {
		v, err := viewAt(ctx, n.KafkaAddr)
		if err != nil {
			return first, fmt.Sprintf("broker %d: %v", n.ID, err)
		}
		if why := v.unsteady(len(c.Nodes)); why != "" {
			return first, fmt.Sprintf("broker %d: %s", n.ID, why)
		}
		if i == 0 {
			first = v
		} else if v.Controller != first.Controller || !slices.Equal(v.Leader, first.Leader) {
			return first, fmt.Sprintf("broker %d sees controller %d leaders %v, broker %d %d %v", n.ID, v.Controller, v.Leader, c.Nodes[0].ID, first.Controller, first.Leader)
		}
	}
	return first, ""
}

// pickVictim chooses the broker an event of kind stops: the controller,
// or the leader of the first partition from round (mod partitions) whose
// leader is not the controller.
func pickVictim(v clusterView, kind string, round int) (int32, error) {
	if kind == EventKillController {
		return v.Controller, nil
	}
	for i := range v.Leader {
		if l := v.Leader[(round+i)%len(v.Leader)]; l != v.Controller {
			return l, nil
		}
	}
	return 0, fmt.Errorf("every partition is led by the controller %d", v.Controller)
}

// runEvent waits for a steady cluster, stops the victim of kind (round
// rotates the partition whose leader is picked), measures, restarts it
// and waits until the cluster is steady again.
func runEvent(ctx context.Context, c *testbed.Cluster, rec *failoverRecorder, cfg FailoverConfig, kind string, round int) (FailoverEvent, error) {
	v, err := waitSteady(ctx, c, rec, cfg.SteadyTimeout)
	if err != nil {
		return FailoverEvent{}, err
	}
	victim, err := pickVictim(v, kind, round)
	if err != nil {
		return FailoverEvent{}, err
	}
	ev := FailoverEvent{Kind: kind, Victim: victim, Controller: victim == v.Controller}
	roles := make([]string, len(v.Leader))
	for p, l := range v.Leader {
		roles[p] = RoleFollower
		if l == victim {
			roles[p] = RoleLeader
		}
	}
	at := rec.arm()
	ev.At = at.UTC()
	stopped := make(chan error, 1)
	if kind == EventTermLeader {
		go func() { stopped <- c.Stop(victim) }()
	} else {
		stopped <- c.Kill(victim)
	}
	waitErr := rec.waitFirstAcks(ctx, cfg.EventTimeout)
	if err := <-stopped; err != nil {
		return ev, fmt.Errorf("stop broker %d: %w", victim, err)
	}
	ev.DownMs = msSince(at)
	time.Sleep(cfg.Down)
	first, gaps := rec.disarm()
	for p := range roles {
		s := PartitionSample{Partition: int32(p), Role: roles[p], GapMs: ms(gaps[p]), TimedOut: first[p].IsZero()}
		if !s.TimedOut {
			s.FirstAckMs = ms(first[p].Sub(at))
		}
		ev.Partitions = append(ev.Partitions, s)
	}
	restart := time.Now()
	if err := c.Restart(ctx, victim); err != nil {
		return ev, fmt.Errorf("restart broker %d: %w", victim, err)
	}
	if _, err := waitSteady(ctx, c, rec, cfg.SteadyTimeout); err != nil {
		return ev, fmt.Errorf("after restarting broker %d: %w", victim, err)
	}
	ev.RestartToSteadyMs = msSince(restart)
	if waitErr != nil {
		ev.Note = waitErr.Error()
	}
	return ev, nil
}

func ms(d time.Duration) float64  { return float64(d) / float64(time.Millisecond) }
func msSince(t time.Time) float64 { return ms(time.Since(t)) }

// createFailoverTopic creates the topic (RF=3, min.insync.replicas=2)
// through addr.
func createFailoverTopic(ctx context.Context, addr string, parts int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 15000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = failoverTopic, int32(parts), 3
	mc := kmsg.NewCreateTopicsRequestTopicConfig()
	mc.Name, mc.Value = "min.insync.replicas", kmsg.StringPtr("2")
	rt.Configs = append(rt.Configs, mc)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err == nil && (len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0) {
		err = fmt.Errorf("%+v", resp.Topics)
	}
	if err != nil {
		return fmt.Errorf("create %s through %s: %w", failoverTopic, addr, err)
	}
	return nil
}

// FailoverWorkDir makes a fresh directory for the cluster under parent
// (the system's temp dir when empty).
func FailoverWorkDir(parent string) (string, error) {
	dir, err := os.MkdirTemp(parent, "chronik-failover-")
	if err != nil {
		return "", fmt.Errorf("work dir: %w", err)
	}
	return filepath.Join(dir, "cluster"), nil
}
