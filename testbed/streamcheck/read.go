package streamcheck

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReadTopic reads every partition of topic from its start up to the end
// offsets the brokers list when it begins, through a franz-go client
// seeded with addr only (opts are added to the client's options). It
// returns the records in read order and those end offsets.
func ReadTopic(ctx context.Context, addr, topic string, opts ...kgo.Opt) ([]Rec, map[int32]int64, error) {
	ends, err := EndOffsets(ctx, addr, topic)
	if err != nil {
		return nil, nil, err
	}
	starts := map[int32]kgo.Offset{}
	for p := range ends {
		starts[p] = kgo.NewOffset().AtStart()
	}
	cons, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: starts}), kgo.FetchMaxWait(500 * time.Millisecond)}, opts...)...)
	if err != nil {
		return nil, nil, err
	}
	defer cons.Close()
	var recs []Rec
	got := map[int32]int64{}
	for !reached(got, ends) {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("read %s: read %v of %v: %w", topic, got, ends, ctx.Err())
		}
		var ferr error
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, kerr.NotLeaderForPartition) && ferr == nil {
				ferr = fmt.Errorf("read %s-%d: %w", topic, p, err)
			}
		})
		if ferr != nil {
			return nil, nil, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			recs = append(recs, Rec{r.Partition, r.Offset, r.Value})
			got[r.Partition] = r.Offset + 1
		})
	}
	return recs, ends, nil
}

// EndOffsets lists the end offset of every partition of topic through
// addr, asking again while a partition answers a retriable error (a leader
// just elected, by a failover or a preferred-leader election, answers
// OFFSET_NOT_AVAILABLE until its high watermark reaches its epoch).
func EndOffsets(ctx context.Context, addr, topic string) (map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		offs, err := adm.ListEndOffsets(ctx, topic)
		ends := map[int32]int64{}
		offs.Each(func(o kadm.ListedOffset) {
			if o.Err != nil {
				err = fmt.Errorf("%s-%d: %w", topic, o.Partition, o.Err)
			}
			ends[o.Partition] = o.Offset
		})
		if err == nil {
			return ends, nil
		}
		if !kerr.IsRetriable(err) && !errors.Is(err, kerr.OffsetNotAvailable) {
			return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("list end offsets of %s: %w (last: %v)", topic, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// reached reports whether every partition was read up to its end.
func reached(got, ends map[int32]int64) bool {
	for p, end := range ends {
		if got[p] < end {
			return false
		}
	}
	return true
}
