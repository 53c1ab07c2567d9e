package benchmarks

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestBandwidthFiltersAndCountsAgree runs the bandwidth scenario on 3
// brokers, 9 partitions, RF=2 (each broker follows a third of the
// partitions, half of those led elsewhere): ISR-filtered, every follower
// reads at most the gate's 1.05 times its owned share; whole-node, about
// twice its owned share (the whole other two leaders), the part it holds
// no replica of counted as observed; in both modes the brokers' counters
// agree with the kernel's socket counts within 1%. It fails if the
// filtered run fetches partitions the follower does not own, if the
// whole-node switch is ignored, or if a counter misses bytes.
func TestBandwidthFiltersAndCountsAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("starts clusters")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lab := ClusterLab{Bin: chronikBin(t), Dir: t.TempDir()}
	rows, err := lab.RunBandwidth(ctx, []BandwidthTopology{{3, 9, 2}}, 20_000, true)
	if err != nil {
		t.Fatal(err)
	}
	r := rows[0]
	t.Logf("filtered/owned %.4f (worst %.4f), whole-node/owned %.3f, saving %.3f, socket deviation %.5f",
		r.MeanOverOwned, r.WorstOverOwned, r.WholeOverOwned, r.Saving, r.SocketWorst)
	if r.WorstOverOwned > 1.05 || r.WorstOverOwned < 1 {
		t.Errorf("ISR-filtered worst follower read %.4f times its owned bytes, want [1, 1.05]", r.WorstOverOwned)
	}
	if r.WholeOverOwned < 1.8 {
		t.Errorf("whole-node followers read %.3f times their owned bytes, want about 2", r.WholeOverOwned)
	}
	for _, f := range r.WholeNode.Followers {
		if f.Observed < f.Received-f.Owned-f.Received/20 {
			t.Errorf("whole-node broker %d observed %d of %d received (%d owned)", f.Broker, f.Observed, f.Received, f.Owned)
		}
	}
	if r.SocketWorst > 0.01 {
		t.Errorf("broker counters and socket counts differ by %.3f%%", 100*r.SocketWorst)
	}
	cg := DefaultClusterGate()
	for _, row := range cg.rows(clusterAttempt{bandwidth: rows}) {
		if !row.Pass {
			t.Errorf("gate row %s: %.4f (%s)", row.Name, row.Current, row.Reason)
		}
	}
}

// The cluster gate's rows: a follower over 1.05 times its owned share
// fails, judged by the larger of the broker's and the socket's count; a
// failover p99 over 1 s fails, and so does one from fewer kills than
// asked or with a timed-out partition.
func TestClusterGateRows(t *testing.T) {
	cg := DefaultClusterGate()
	// The gate measures ISR-filtered only: the row must still encode.
	row := BandwidthRow{Filtered: BandwidthRun{Followers: []FollowerBytes{{Broker: 1, Received: 10, Socket: 10, Owned: 10}}}}
	row.finish()
	if _, err := json.Marshal(row); err != nil {
		t.Fatalf("a filtered-only row: %v", err)
	}
	if _, err := WritePlots(t.TempDir(), &Results{Cluster: &ClusterResult{Bandwidth: []BandwidthRow{row}}}); err != nil {
		t.Fatalf("plots of a filtered-only row: %v", err)
	}
	bw := func(received, socket int64) []BandwidthRow {
		return []BandwidthRow{{Topology: BandwidthTopology{3, 9, 2}, Filtered: BandwidthRun{Followers: []FollowerBytes{
			{Broker: 1, Received: 1000, Socket: 1000, Owned: 1000}, {Broker: 2, Received: received, Socket: socket, Owned: 1000}}}}}
	}
	fo := func(p99 float64, events, timedOut int) *FailoverResult {
		return &FailoverResult{Rows: []FailoverRow{{Name: EventKillLeader, Events: events, TimedOut: timedOut,
			First: Dist{Count: events, P99Ms: p99}}}}
	}
	for _, c := range []struct {
		name string
		a    clusterAttempt
		pass []bool
	}{
		{"within", clusterAttempt{bw(1040, 1041), fo(400, 10, 0)}, []bool{true, true}},
		{"bandwidth over", clusterAttempt{bw(1060, 1060), fo(400, 10, 0)}, []bool{false, true}},
		{"socket over", clusterAttempt{bw(1000, 1070), fo(400, 10, 0)}, []bool{false, true}},
		{"failover over", clusterAttempt{bw(1000, 1000), fo(1001, 10, 0)}, []bool{true, false}},
		{"too few kills", clusterAttempt{bw(1000, 1000), fo(300, 9, 0)}, []bool{true, false}},
		{"a timeout", clusterAttempt{bw(1000, 1000), fo(300, 10, 1)}, []bool{true, false}},
	} {
		rows := cg.rows(c.a)
		if len(rows) != 2 {
			t.Fatalf("%s: %d rows", c.name, len(rows))
		}
		for i, r := range rows {
			if r.Pass != c.pass[i] {
				t.Errorf("%s: row %s pass %v, want %v (%.3f, %s)", c.name, r.Name, r.Pass, c.pass[i], r.Current, r.Reason)
			}
		}
		if !c.pass[1] && !strings.Contains(rows[1].Name, "failover") {
			t.Errorf("%s: second row is %s", c.name, rows[1].Name)
		}
	}
}
