package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/chronik/chronik/testbed"
)

// The bandwidth scenario: the seeds' phase 3 table, measured. For each
// topology a fresh cluster, a topic of its partitions and RF, Records
// acks=-1 records of 100 bytes written by the lab's producers, and, once
// every replica holds its leader's bytes, per follower broker:
//
//	received  bytes it read from its leaders' replication sockets, by its own
//	          count (chronik_replication_received_bytes_total, every leader)
//	socket    the same sockets' bytes by the kernel's count
//	          (tcpi_bytes_received through sock_diag, SocketBytesFrom): the
//	          check that the broker's counter is right
//	owned     the record bytes of the partitions it follows, on its disk: the
//	          owned share, what ISR-filtered fetching should read
//	observed  whole-node only: record bytes it read and discarded
//	          (chronik_replication_observed_bytes_total)
//
// each once ISR-filtered (the default) and once in the lab's whole-node
// mode (replica.fetch.whole.node.enable, the seeds' phase 1: each follower
// fetches every partition of every leader and keeps what it owns), in the
// same run.

// BandwidthTopology is one cluster shape of the table.
type BandwidthTopology struct {
	Brokers    int   `json:"brokers"`
	Partitions int32 `json:"partitions"`
	RF         int16 `json:"rf"`
}

func (t BandwidthTopology) String() string {
	return fmt.Sprintf("%d brokers, %d partitions, RF=%d", t.Brokers, t.Partitions, t.RF)
}

// BandwidthTopologies are the issue's: 3 brokers with 9 partitions at RF=2
// and RF=3, 5 brokers with 30 partitions at RF=3.
var BandwidthTopologies = []BandwidthTopology{{3, 9, 2}, {3, 9, 3}, {5, 30, 3}}

// Bandwidth modes.
const (
	ModeISRFiltered = "isr-filtered"
	ModeWholeNode   = "whole-node"
)

// FollowerBytes is one broker's follower traffic in one run.
type FollowerBytes struct {
	Broker   int32   `json:"broker"`
	Follows  []int32 `json:"follows"` // partitions it follows
	Received int64   `json:"received_bytes"`
	Socket   int64   `json:"socket_bytes"`
	Owned    int64   `json:"owned_bytes"`
	Observed int64   `json:"observed_bytes"`
}

// BandwidthRun is one topology in one mode.
type BandwidthRun struct {
	Mode          string          `json:"mode"`
	Records       int64           `json:"records"`
	ProducedBytes int64           `json:"produced_bytes"` // record bytes of every partition (the leaders' logs)
	Seconds       float64         `json:"seconds"`        // the produce
	Followers     []FollowerBytes `json:"followers"`
}

// BandwidthRow is one topology of the table: both modes and what follows
// from them.
type BandwidthRow struct {
	Topology  BandwidthTopology `json:"topology"`
	Filtered  BandwidthRun      `json:"isr_filtered"`
	WholeNode BandwidthRun      `json:"whole_node"`
	// WorstOverOwned is the largest received/owned of any follower
	// ISR-filtered (the gate's <= 1.05), MeanOverOwned the sum over all.
	WorstOverOwned float64 `json:"worst_received_over_owned"`
	MeanOverOwned  float64 `json:"received_over_owned"`
	// WholeOverOwned is whole-node's received over its owned bytes.
	WholeOverOwned float64 `json:"whole_node_received_over_owned"`
	// Saving is 1 - ISR-filtered received / whole-node received (sums).
	Saving float64 `json:"saving"`
	// SocketWorst is the largest |socket/received - 1| of any follower of
	// either mode: how far the broker's counter is from the kernel's.
	SocketWorst float64 `json:"socket_worst_deviation"`
}

// BandwidthRecords is the records the bandwidth scenario writes per run.
const BandwidthRecords = 100_000

// bandwidthScenario is the producer workload of a bandwidth run.
func bandwidthScenario(records int64) Scenario {
	sc := produceScenario("bandwidth", -1, true, records, 0)
	sc.Producers = 1
	return sc
}

// RunBandwidth measures every topology ISR-filtered and, with wholeNode,
// in whole-node mode too.
func (l ClusterLab) RunBandwidth(ctx context.Context, tops []BandwidthTopology, records int64, wholeNode bool) ([]BandwidthRow, error) {
	modes := []string{ModeISRFiltered}
	if wholeNode {
		modes = append(modes, ModeWholeNode)
	}
	var rows []BandwidthRow
	for _, t := range tops {
		row := BandwidthRow{Topology: t}
		for _, mode := range modes {
			run, err := l.bandwidthRun(ctx, t, mode, records)
			for try := 1; errors.Is(err, errLeadershipMoved) && try < bandwidthTries; try++ {
				l.progressf("[bandwidth %-32s %-12s] leadership moved during the run (a broker missed its session: load); again\n", t, mode)
				run, err = l.bandwidthRun(ctx, t, mode, records)
			}
			if err != nil {
				return nil, fmt.Errorf("bandwidth %v %s: %w", t, mode, err)
			}
			if mode == ModeISRFiltered {
				row.Filtered = run
			} else {
				row.WholeNode = run
			}
			l.progressf("[bandwidth %-32s %-12s] %s\n", t, mode, run.brief())
		}
		row.finish()
		rows = append(rows, row)
	}
	return rows, nil
}

func (r BandwidthRun) sums() (received, owned int64) {
	for _, f := range r.Followers {
		received += f.Received
		owned += f.Owned
	}
	return
}

func (r BandwidthRun) brief() string {
	rec, own := r.sums()
	return fmt.Sprintf("%d records in %.1fs; followers read %d B for %d B owned (%.3f)", r.Records, r.Seconds, rec, own, Ratio(float64(rec), float64(own)))
}

func (row *BandwidthRow) finish() {
	for _, f := range row.Filtered.Followers {
		row.WorstOverOwned = max(row.WorstOverOwned, orZero(Ratio(float64(f.Received), float64(f.Owned))))
	}
	fr, fo := row.Filtered.sums()
	wr, wo := row.WholeNode.sums()
	// 0, not NaN, for a mode not run (the gate's): results.json has no NaN.
	row.MeanOverOwned, row.WholeOverOwned = orZero(Ratio(float64(fr), float64(fo))), orZero(Ratio(float64(wr), float64(wo)))
	if wr > 0 {
		row.Saving = 1 - float64(fr)/float64(wr)
	}
	for _, run := range []BandwidthRun{row.Filtered, row.WholeNode} {
		for _, f := range run.Followers {
			if f.Received > 0 {
				d := float64(f.Socket)/float64(f.Received) - 1
				row.SocketWorst = max(row.SocketWorst, d, -d)
			}
		}
	}
}

const bandwidthTopic = "bandwidth"

// errLeadershipMoved: leaders or ISRs changed during a bandwidth run (a
// broker that missed its session under load was fenced), so the owned
// shares are not the run's; RunBandwidth measures it again, up to
// bandwidthTries times.
var errLeadershipMoved = errors.New("leadership or ISR changed during the run")

const bandwidthTries = 3

// followerCounters are one broker's counters at one moment.
type followerCounters struct {
	received, observed int64
}

func readFollowerCounters(ctx context.Context, c *testbed.Cluster) (map[int32]followerCounters, error) {
	out := map[int32]followerCounters{}
	for _, n := range c.Nodes {
		text, err := metrics(ctx, c, n.ID)
		if err != nil {
			return nil, fmt.Errorf("metrics of broker %d: %w", n.ID, err)
		}
		out[n.ID] = followerCounters{
			received: int64(sumValues(metricValues(text, "chronik_replication_received_bytes_total"))),
			observed: int64(sumValues(metricValues(text, "chronik_replication_observed_bytes_total"))),
		}
	}
	return out, nil
}

// trackReplicationSockets follows every broker's sockets to the brokers'
// replication listeners (a follower's connections to its leaders).
func trackReplicationSockets(c *testbed.Cluster) (*SocketTracker, error) {
	pids, repl := map[int32]int{}, map[int32]string{}
	for _, n := range c.Nodes {
		pids[n.ID], repl[n.ID] = n.Proc.Pid(), n.ReplicationAddr
	}
	return StartSocketTracker(pids, repl, socketTrackInterval)
}

// socketTrackInterval is how often the bandwidth scenario reads the
// replication sockets: a connection a fetcher drops (it starts a new one
// when a partition joins mid-poll, or after an error) keeps what it read
// up to the last reading.
const socketTrackInterval = 20 * time.Millisecond

// bandwidthSettle is how long a run waits, once every replica caught up,
// for the last fetch responses to be read before the counters.
const bandwidthSettle = 700 * time.Millisecond

func (l ClusterLab) bandwidthRun(ctx context.Context, t BandwidthTopology, mode string, records int64) (BandwidthRun, error) {
	props := map[string]string{}
	if mode == ModeWholeNode {
		props["replica.fetch.whole.node.enable"] = "true"
	}
	c, err := l.start("bandwidth", t.Brokers, props)
	if err != nil {
		return BandwidthRun{}, err
	}
	defer c.Close()
	run, err := bandwidthOn(ctx, c, t, mode, records)
	if err != nil {
		return run, fmt.Errorf("%w\n%s", err, c.Logs())
	}
	return run, nil
}

func bandwidthOn(ctx context.Context, c *testbed.Cluster, t BandwidthTopology, mode string, records int64) (BandwidthRun, error) {
	run := BandwidthRun{Mode: mode, Records: records}
	addr := c.Node(1).KafkaAddr
	if err := createTopic(ctx, addr, bandwidthTopic, t.Partitions, t.RF); err != nil {
		return run, err
	}
	ps, err := waitTopic(ctx, addr, bandwidthTopic, t.Partitions, 30*time.Second)
	if err != nil {
		return run, err
	}
	tracker, err := trackReplicationSockets(c)
	if err != nil {
		return run, err
	}
	before, err := readFollowerCounters(ctx, c)
	if err != nil {
		tracker.Stop()
		return run, err
	}
	sc := bandwidthScenario(records)
	cls, err := newClients(sc.Producers, producerOpts(addr, bandwidthTopic, sc))
	if err != nil {
		tracker.Stop()
		return run, err
	}
	defer closeClients(cls)
	stopTracker := sync.OnceValues(tracker.Stop)
	defer stopTracker()
	start := time.Now()
	cnt := &counters{}
	cnt.measuring.Store(true)
	if err := produceN(ctx, cls, sc, records, cnt, newLatencyRec()); err != nil {
		return run, err
	}
	if n := cnt.errs.Load(); n > 0 {
		return run, fmt.Errorf("%d records failed", n)
	}
	run.Seconds = time.Since(start).Seconds()
	led, err := waitCaughtUp(ctx, c, bandwidthTopic, ps, 60*time.Second)
	if err != nil {
		return run, err
	}
	for _, b := range led {
		run.ProducedBytes += b
	}
	if !sleepCtx(ctx, bandwidthSettle) {
		return run, ctx.Err()
	}
	after, err := readFollowerCounters(ctx, c)
	if err != nil {
		return run, err
	}
	sock, err := stopTracker()
	if err != nil {
		return run, err
	}
	if _, now, err := testbed.TopicMetadata(ctx, addr, bandwidthTopic); err != nil || fullTopic(now, t.Partitions) != "" || !sameLeaders(ps, now) {
		return run, fmt.Errorf("%w (%v): %v, then %v", errLeadershipMoved, err, ps, now)
	}
	for _, n := range c.Nodes {
		f := FollowerBytes{Broker: n.ID, Follows: followed(ps, n.ID)}
		a, b := after[n.ID], before[n.ID]
		f.Received, f.Observed, f.Socket = a.received-b.received, a.observed-b.observed, sock[n.ID]
		for _, p := range f.Follows {
			f.Owned += led[p]
		}
		run.Followers = append(run.Followers, f)
	}
	return run, nil
}

func sameLeaders(a, b map[int32]testbed.PartitionState) bool {
	if len(a) != len(b) {
		return false
	}
	for p, st := range a {
		if b[p].Leader != st.Leader || !slices.Equal(b[p].Replicas, st.Replicas) {
			return false
		}
	}
	return true
}
