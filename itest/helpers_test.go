package itest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestMain(m *testing.M) {
	code := m.Run()
	removeBuiltBinary()
	os.Exit(code)
}

// testContext returns a context that ends after d, or a little before the
// go test -timeout deadline, whichever is first.
func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	deadline := time.Now().Add(d)
	if td, ok := t.Deadline(); ok && td.Add(-5*time.Second).Before(deadline) {
		deadline = td.Add(-5 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}

// requireInterop skips the test only when CHRONIK_SKIP_INTEROP=1, and fails
// it when running the probe command shows the external tool is missing.
func requireInterop(t *testing.T, tool string, probe ...string) {
	t.Helper()
	if os.Getenv("CHRONIK_SKIP_INTEROP") == "1" {
		t.Skip("CHRONIK_SKIP_INTEROP=1")
	}
	if out, err := exec.Command(probe[0], probe[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s is not available (%s: %v: %.300s); run `make deps` to install it",
			tool, strings.Join(probe, " "), err, out)
	}
}

// newClient returns a franz-go client for addr, closed at test end. It
// asks for topics to be auto-created on first use, as Java producers do.
func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation()}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// seqValueSize is the size of record values made by seqValue.
const seqValueSize = 100

// seqValue returns a seqValueSize-byte value that carries seq and whose
// padding is derived from seq, so a torn or mixed-up value is detected.
func seqValue(seq int) []byte {
	v := make([]byte, seqValueSize)
	n := copy(v, fmt.Sprintf("seq=%010d|", seq))
	for i := n; i < len(v); i++ {
		v[i] = 'a' + byte((seq+i)%26)
	}
	return v
}

// parseSeq returns the sequence number of a value made by seqValue, or an
// error if the value is not exactly what seqValue would have made.
func parseSeq(v []byte) (int, error) {
	if len(v) != seqValueSize || !strings.HasPrefix(string(v), "seq=") {
		return 0, fmt.Errorf("value %.20q... (%d bytes) is not a sequence value", v, len(v))
	}
	seq, err := strconv.Atoi(string(v[4:14]))
	if err != nil {
		return 0, fmt.Errorf("value %.20q: %w", v, err)
	}
	if string(seqValue(seq)) != string(v) {
		return 0, fmt.Errorf("value for seq %d has corrupt padding", seq)
	}
	return seq, nil
}

// produceSeqs produces seqs [from, from+n) to partition 0 of topic and waits
// for every ack. It returns each record's acknowledged offset, indexed by
// seq-from, and fails the test on any produce error.
func produceSeqs(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, from, n int) []int64 {
	t.Helper()
	offsets := make([]int64, n)
	errs := make(chan error, 1)
	done := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		i := i
		r := &kgo.Record{Topic: topic, Partition: 0, Key: []byte(strconv.Itoa(from + i)), Value: seqValue(from + i)}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- fmt.Errorf("produce seq %d: %w", from+i, err):
				default:
				}
			}
			offsets[i] = r.Offset
			done <- struct{}{}
		})
	}
	for i := 0; i < n; i++ {
		select {
		case <-done:
		case <-ctx.Done():
			t.Fatalf("produce: %d of %d acks received before the deadline", i, n)
		}
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	return offsets
}

// endOffset returns the high watermark of partition 0 of topic.
func endOffset(t *testing.T, ctx context.Context, addr, topic string) int64 {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	listed, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	o, ok := listed.Lookup(topic, 0)
	if !ok {
		t.Fatalf("list end offsets: %s[0] missing from the answer", topic)
	}
	if o.Err != nil {
		t.Fatalf("list end offsets of %s[0]: %v", topic, o.Err)
	}
	return o.Offset
}

// consumeAll reads partition 0 of topic from the start up to its current
// high watermark with a fresh client and returns every record.
func consumeAll(t *testing.T, ctx context.Context, addr, topic string) []*kgo.Record {
	t.Helper()
	end := endOffset(t, ctx, addr, topic)
	if end == 0 {
		return nil
	}
	cl := newClient(t, addr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	defer cl.Close()
	var recs []*kgo.Record
	for len(recs) == 0 || recs[len(recs)-1].Offset < end-1 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: %d records read, last offset %d, want up to %d: %v",
				topic, len(recs), lastOffset(recs), end-1, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Errorf("consume %s[%d]: %v", topic, p, err)
		})
		if t.Failed() {
			t.FailNow()
		}
		recs = append(recs, fs.Records()...)
	}
	return recs
}

func lastOffset(recs []*kgo.Record) int64 {
	if len(recs) == 0 {
		return -1
	}
	return recs[len(recs)-1].Offset
}

// checkDenseSeqs asserts that recs hold seqs 0..want-1 at offsets 0..want-1,
// in order, and nothing else.
func checkDenseSeqs(t *testing.T, recs []*kgo.Record, want int) {
	t.Helper()
	if len(recs) != want {
		t.Errorf("read %d records, want %d", len(recs), want)
	}
	bad := 0
	for i, r := range recs {
		seq, err := parseSeq(r.Value)
		switch {
		case err != nil:
			t.Errorf("offset %d: %v", r.Offset, err)
		case r.Offset != int64(i) || seq != i:
			t.Errorf("record %d: offset %d seq %d, want offset %d seq %d", i, r.Offset, seq, i, i)
		case string(r.Key) != strconv.Itoa(seq):
			t.Errorf("offset %d: key %q, want %q", r.Offset, r.Key, strconv.Itoa(seq))
		default:
			continue
		}
		if bad++; bad >= 10 {
			t.Fatalf("stopping after %d bad records", bad)
		}
	}
}

// ensureTopic creates topic through Metadata auto-creation (the way a client
// first uses a topic) and waits until partition 0 has a leader.
func ensureTopic(t *testing.T, ctx context.Context, addr, topic string) {
	t.Helper()
	cl := newClient(t, addr)
	defer cl.Close()
	for {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		req.AllowAutoTopicCreation = true
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			err = fmt.Errorf("metadata answered %d topics", len(resp.Topics))
			if len(resp.Topics) == 1 {
				mt := resp.Topics[0]
				if mt.ErrorCode == 0 && len(mt.Partitions) > 0 && mt.Partitions[0].ErrorCode == 0 && mt.Partitions[0].Leader >= 0 {
					return
				}
				err = fmt.Errorf("topic error %v, %d partitions", kerr.ErrorForCode(mt.ErrorCode), len(mt.Partitions))
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s not created: last answer %v", topic, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
