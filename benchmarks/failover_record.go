package benchmarks

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/chronik/chronik/testbed/streamcheck"
	"github.com/twmb/franz-go/pkg/kgo"
)

// failoverRecorder books every acknowledgement of the failover scenario:
// where each record was acknowledged (for the final check), the produce
// errors, the last acknowledgement per partition, and, while an event is
// armed, the first acknowledgement of a record sent after the event and
// the longest gap between acknowledgements per partition. Its methods are
// safe for concurrent use; produce callbacks run on kgo's goroutines.
type failoverRecorder struct {
	mu        sync.Mutex
	acked     map[streamcheck.Key]streamcheck.Placed
	nErrs     int
	firstErrs []string
	lastAck   []time.Time // per partition
	armed     bool
	at        time.Time       // the armed event's time
	first     []time.Time     // per partition: first ack of a record sent at or after at
	gap       []time.Duration // per partition: longest ack gap since at
}

// maxFirstErrs bounds the produce errors kept as examples.
const maxFirstErrs = 5

func newFailoverRecorder(parts int) *failoverRecorder {
	return &failoverRecorder{acked: map[streamcheck.Key]streamcheck.Placed{}, lastAck: make([]time.Time, parts),
		first: make([]time.Time, parts), gap: make([]time.Duration, parts)}
}

// produce sends (producer, seq) to partition and books the outcome.
func (r *failoverRecorder) produce(ctx context.Context, cl *kgo.Client, producer, seq int, partition int32) {
	rec := &kgo.Record{Topic: failoverTopic, Partition: partition, Value: streamcheck.Value(producer, seq)}
	sent := time.Now()
	cl.Produce(ctx, rec, func(rec *kgo.Record, err error) {
		r.done(producer, seq, rec, err, sent, time.Now())
	})
}

// done books one outcome: sent is when Produce was called, at when the
// acknowledgement (or error) reached the client.
func (r *failoverRecorder) done(producer, seq int, rec *kgo.Record, err error, sent, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.nErrs++
		if len(r.firstErrs) < maxFirstErrs {
			r.firstErrs = append(r.firstErrs, fmt.Sprintf("producer %d seq %d: %v", producer, seq, err))
		}
		return
	}
	r.acked[streamcheck.Key{Producer: producer, Seq: seq}] = streamcheck.Placed{Partition: rec.Partition, Offset: rec.Offset}
	p := rec.Partition
	if r.armed {
		if g := at.Sub(later(r.lastAck[p], r.at)); g > r.gap[p] {
			r.gap[p] = g
		}
		if !sent.Before(r.at) && r.first[p].IsZero() {
			r.first[p] = at
		}
	}
	r.lastAck[p] = later(r.lastAck[p], at)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// arm starts an event now and returns its time: records sent from now on
// count as sent after it.
func (r *failoverRecorder) arm() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.armed, r.at = true, time.Now()
	clear(r.first)
	clear(r.gap)
	return r.at
}

// disarm ends the event and returns, per partition, the first ack of a
// record sent after it (zero if none) and the longest ack gap, counting
// the time from the last ack until now for a partition still waiting.
func (r *failoverRecorder) disarm() ([]time.Time, []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for p := range r.gap {
		if g := now.Sub(later(r.lastAck[p], r.at)); r.first[p].IsZero() && g > r.gap[p] {
			r.gap[p] = g
		}
	}
	r.armed = false
	return slices.Clone(r.first), slices.Clone(r.gap)
}

// recorderPoll is how often the recorder's waits look again.
const recorderPoll = 2 * time.Millisecond

// waitFirstAcks waits until every partition acknowledged a record sent
// after the armed event, or timeout.
func (r *failoverRecorder) waitFirstAcks(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		missing := r.missing(func(p int) bool { return r.first[p].IsZero() })
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("partitions %v took no record sent after the event within %v", missing, timeout)
		}
		time.Sleep(recorderPoll)
	}
}

// waitWrites waits up to wait until every partition acknowledged
// something after since; "" when it did, else which did not.
func (r *failoverRecorder) waitWrites(ctx context.Context, since time.Time, wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		missing := r.missing(func(p int) bool { return !r.lastAck[p].After(since) })
		if len(missing) == 0 {
			return ""
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Sprintf("partitions %v acknowledged nothing for %v", missing, wait)
		}
		time.Sleep(recorderPoll)
	}
}

// missing lists the partitions for which pred holds, under the lock.
func (r *failoverRecorder) missing(pred func(p int) bool) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for p := range r.lastAck {
		if pred(p) {
			out = append(out, p)
		}
	}
	return out
}

// book returns what was acknowledged and the produce errors.
func (r *failoverRecorder) book() (map[streamcheck.Key]streamcheck.Placed, int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acked, r.nErrs, slices.Clone(r.firstErrs)
}
