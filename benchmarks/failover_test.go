package benchmarks

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestNewDistIsNearestRank: percentiles are samples (nearest rank), not
// interpolations, whatever the order they came in.
func TestNewDistIsNearestRank(t *testing.T) {
	var xs []float64
	for i := 20; i >= 1; i-- {
		xs = append(xs, float64(i*10))
	}
	d := NewDist(xs)
	if d.Count != 20 || d.P50Ms != 100 || d.P90Ms != 180 || d.P99Ms != 200 || d.MaxMs != 200 {
		t.Errorf("20 samples 10..200: %+v", d)
	}
	if !slices.IsSorted(d.Samples) || xs[0] != 200 {
		t.Errorf("samples not sorted, or the input was changed: %v / %v", d.Samples, xs)
	}
	if d := NewDist([]float64{7}); d.P50Ms != 7 || d.P99Ms != 7 || d.MaxMs != 7 {
		t.Errorf("one sample: %+v", d)
	}
	if d := NewDist(nil); d.Count != 0 || d.MaxMs != 0 {
		t.Errorf("no sample: %+v", d)
	}
}

// TestFailoverRowsTakeTheRightPartitions: a row takes its kind's events
// and the partitions of its role; first is the earliest partition, all
// the latest, gap the longest; a timed-out partition is counted, not
// averaged in, and an event with only timed-out partitions adds no sample.
func TestFailoverRowsTakeTheRightPartitions(t *testing.T) {
	ps := func(samples ...PartitionSample) []PartitionSample { return samples }
	events := []FailoverEvent{
		{Kind: EventKillLeader, Partitions: ps(
			PartitionSample{Partition: 0, Role: RoleLeader, FirstAckMs: 300, GapMs: 310},
			PartitionSample{Partition: 1, Role: RoleLeader, FirstAckMs: 200, GapMs: 400},
			PartitionSample{Partition: 2, Role: RoleFollower, FirstAckMs: 50, GapMs: 60})},
		{Kind: EventKillLeader, Partitions: ps(
			PartitionSample{Partition: 0, Role: RoleLeader, TimedOut: true},
			PartitionSample{Partition: 2, Role: RoleFollower, FirstAckMs: 70, GapMs: 80})},
		{Kind: EventKillController, Partitions: ps(
			PartitionSample{Partition: 0, Role: RoleLeader, FirstAckMs: 900, GapMs: 900},
			PartitionSample{Partition: 2, Role: RoleFollower, FirstAckMs: 800, GapMs: 800})},
	}
	rows := map[string]FailoverRow{}
	for _, r := range FailoverRows(events) {
		rows[r.Name] = r
	}
	check := func(name string, events, timedOut int, first, all, gap []float64) {
		t.Helper()
		r := rows[name]
		if r.Events != events || r.TimedOut != timedOut || !slices.Equal(r.First.Samples, first) ||
			!slices.Equal(r.All.Samples, all) || !slices.Equal(r.Gap.Samples, gap) {
			t.Errorf("%s: %d events, %d timed out, first %v all %v gap %v; want %d, %d, %v %v %v", name, r.Events, r.TimedOut,
				r.First.Samples, r.All.Samples, r.Gap.Samples, events, timedOut, first, all, gap)
		}
	}
	check("kill9-leader", 1, 1, []float64{200}, []float64{300}, []float64{400})
	check("kill9-follower-stall", 2, 0, []float64{50, 70}, []float64{50, 70}, []float64{60, 80})
	check("kill9-controller", 1, 0, []float64{900}, []float64{900}, []float64{900})
	check("sigterm-leader", 0, 0, nil, nil, nil)
}

// TestRecorderCountsOnlyRecordsSentAfterTheEvent: a record sent before
// the event and acknowledged after it is not the first acknowledgement
// after the event; the gap runs from the event (not from an earlier ack);
// a partition that took nothing sent after the event is reported so, and
// errors are booked apart from the acknowledged records.
func TestRecorderCountsOnlyRecordsSentAfterTheEvent(t *testing.T) {
	r := newFailoverRecorder(2)
	ack := func(seq int, p int32, sent, at time.Time) {
		r.done(0, seq, &kgo.Record{Partition: p, Offset: int64(seq)}, nil, sent, at)
	}
	t0 := time.Now().Add(-time.Hour)
	ack(0, 0, t0, t0.Add(time.Millisecond))
	r.mu.Lock()
	r.armed, r.at = true, t0.Add(10*time.Millisecond) // what arm does, at a known time
	r.mu.Unlock()
	at := t0.Add(10 * time.Millisecond)
	ack(1, 0, t0.Add(5*time.Millisecond), at.Add(300*time.Millisecond)) // sent before: not a first ack
	ack(2, 0, at.Add(time.Millisecond), at.Add(320*time.Millisecond))
	ack(3, 0, at.Add(2*time.Millisecond), at.Add(330*time.Millisecond))
	r.done(0, 4, &kgo.Record{Partition: 1}, errors.New("boom"), at, at)
	first, gaps := r.disarm()
	if got := first[0].Sub(at); got != 320*time.Millisecond {
		t.Errorf("partition 0: first ack %v after the event, want 320ms", got)
	}
	if gaps[0] != 300*time.Millisecond {
		t.Errorf("partition 0: longest gap %v, want 300ms (event -> first ack after it)", gaps[0])
	}
	if !first[1].IsZero() || gaps[1] < time.Hour-time.Minute {
		t.Errorf("partition 1 took nothing: first %v, gap %v (want zero, the time since the event)", first[1], gaps[1])
	}
	acked, nErrs, errs := r.book()
	if len(acked) != 4 || nErrs != 1 || len(errs) != 1 {
		t.Errorf("book: %d acknowledged, %d errors %v; want 4 and 1", len(acked), nErrs, errs)
	}
}

// TestFailoverScheduleSpreadsKinds: every event is scheduled once and no
// kind is bunched at one end.
func TestFailoverScheduleSpreadsKinds(t *testing.T) {
	s := failoverSchedule(FailoverConfig{Kills: 4, ControllerKills: 2, Terminates: 2})
	want := []string{EventKillLeader, EventKillController, EventTermLeader, EventKillLeader, EventKillLeader, EventKillController, EventTermLeader, EventKillLeader}
	if !slices.Equal(s, want) {
		t.Errorf("schedule %v, want %v", s, want)
	}
}

// TestFailoverEndToEnd runs the scenario on a real 3-broker cluster with
// one event of each kind: every event's partitions take writes again, the
// restarted broker rejoins (the SIGTERM one too), and the full read finds
// every acknowledged record once, in order, offsets dense.
func TestFailoverEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-broker cluster")
	}
	cfg := DefaultFailoverConfig()
	cfg.Bin, cfg.Dir = chronikBin(t), filepath.Join(t.TempDir(), "cluster")
	cfg.Kills, cfg.ControllerKills, cfg.Terminates = 1, 1, 1
	cfg.Rate, cfg.Down = 500, 200*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := RunFailover(ctx, cfg, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || res.Check.Acked == 0 {
		t.Errorf("data check: %+v, %d produce errors %v", res.Check, res.ProduceErrors, res.FirstProduceErrors)
	}
	for _, row := range res.Rows {
		if row.Events != 1 || row.TimedOut != 0 {
			t.Errorf("row %s: %d events with samples, %d timed-out partitions; want 1 and 0", row.Name, row.Events, row.TimedOut)
		}
	}
}

// testWriter logs each progress line.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
