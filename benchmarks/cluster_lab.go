package benchmarks

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/chronik/chronik/wal"
)

// The cluster lab (chronik-bench bench, bench-cluster): besides the
// runner's ChronikRF3 scenarios (ClusterSuite), three scenarios that need
// the cluster itself, each on clusters the testbed starts as real
// processes on free loopback ports, stopped by pid:
//
//	bandwidth   per-follower replication bytes, ISR-filtered and whole-node (cluster_bandwidth.go)
//	isr-shrink  acks=-1 throughput with a follower SIGSTOPped and after SIGCONT, catch-up rate (cluster_isr.go)
//	failover    RunFailover (failover.go)

// ClusterLab says how the cluster lab starts its clusters.
type ClusterLab struct {
	Bin        string            // the chronik binary
	Dir        string            // parent of every cluster's directory
	Properties map[string]string // broker properties for every cluster (e.g. debug.* hooks)
	Progress   io.Writer         // one line per step; nil for none
}

func (l ClusterLab) progressf(format string, args ...any) {
	if l.Progress != nil {
		fmt.Fprintf(l.Progress, format, args...)
	}
}

// start starts a cluster of n brokers with admin listeners (for /metrics)
// in a fresh directory under l.Dir, with l.Properties and props.
func (l ClusterLab) start(name string, n int, props map[string]string) (*testbed.Cluster, error) {
	all := maps.Clone(l.Properties)
	if all == nil {
		all = map[string]string{}
	}
	maps.Copy(all, props)
	dir := filepath.Join(l.Dir, fmt.Sprintf("%s-%d", name, time.Now().UnixNano()))
	return testbed.Start(testbed.Config{Bin: l.Bin, Nodes: n, Dir: dir, Properties: all, Admin: true,
		ExtraArgs: []string{"--log-level", "warn"}})
}

// metricValues parses a /metrics text: the value of every sample of the
// named metric, labeled or not, by its label text ("" when unlabeled).
func metricValues(text, name string) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || len(line) == len(name) || (line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[len(name):i]] = v
	}
	return out
}

func sumValues(m map[string]float64) float64 {
	s := 0.0
	for _, v := range m {
		s += v
	}
	return s
}

// metrics scrapes node id's /metrics (bounded).
func metrics(ctx context.Context, c *testbed.Cluster, id int32) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return c.Metrics(ctx, id)
}

// waitTopic waits until broker addr reports every partition of topic with
// a leader and a full ISR; it returns the partitions.
func waitTopic(ctx context.Context, addr, topic string, parts int32, timeout time.Duration) (map[int32]testbed.PartitionState, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "not asked"
	for {
		_, ps, err := testbed.TopicMetadata(ctx, addr, topic)
		if err == nil {
			last = fullTopic(ps, parts)
			if last == "" {
				return ps, nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("topic %s not ready after %v: %s", topic, timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// fullTopic says why ps is not parts partitions, each led with a full
// ISR; "" when it is.
func fullTopic(ps map[int32]testbed.PartitionState, parts int32) string {
	if int32(len(ps)) != parts {
		return fmt.Sprintf("%d of %d partitions", len(ps), parts)
	}
	for p, st := range ps {
		if st.Leader < 1 || len(st.ISR) != len(st.Replicas) {
			return fmt.Sprintf("partition %d leader %d ISR %v of %v", p, st.Leader, st.ISR, st.Replicas)
		}
	}
	return ""
}

// logBytes is the record bytes (whole batches) in node n's log of
// topic-p: the same on every replica once caught up.
func logBytes(n *testbed.Node, topic string, p int32) (int64, error) {
	d, err := wal.OpenDirBatches(wal.OSFS(), filepath.Join(n.DataDir, topic+"-"+strconv.Itoa(int(p))))
	if err != nil {
		return 0, err
	}
	defer d.Close()
	var total int64
	for {
		h, _, _, err := d.Next()
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		total += h.Size()
	}
}

// waitCaughtUp waits until every replica of every partition holds as many
// record bytes as its leader; it returns the leader's bytes per
// partition.
func waitCaughtUp(ctx context.Context, c *testbed.Cluster, topic string, ps map[int32]testbed.PartitionState, timeout time.Duration) (map[int32]int64, error) {
	deadline := time.Now().Add(timeout)
	for {
		led, why := map[int32]int64{}, ""
		for p, st := range ps {
			lb, err := logBytes(c.Node(st.Leader), topic, p)
			if err != nil {
				return nil, err
			}
			led[p] = lb
			for _, r := range st.Replicas {
				if rb, err := logBytes(c.Node(r), topic, p); err != nil || rb != lb {
					why = fmt.Sprintf("partition %d: broker %d holds %d bytes, leader %d %d (%v)", p, r, rb, st.Leader, lb, err)
				}
			}
		}
		if why == "" {
			return led, nil
		}
		if time.Now().After(deadline) || !sleepCtx(ctx, 100*time.Millisecond) {
			return nil, fmt.Errorf("replicas of %s not caught up after %v: %s", topic, timeout, why)
		}
	}
}

// followed lists the partitions broker id follows (a replica, not the
// leader), sorted.
func followed(ps map[int32]testbed.PartitionState, id int32) []int32 {
	var out []int32
	for p, st := range ps {
		if st.Leader != id && slices.Contains(st.Replicas, id) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}
