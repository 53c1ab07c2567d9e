package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/chronik/chronik/wal/vfs/memfs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// randomProduceRequest builds a kmsg ProduceRequest of version v with
// random topics, partitions, null and empty records, and (flexible
// versions) unknown tagged fields, which the decoder must skip.
func randomProduceRequest(rng *rand.Rand, v int16) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = v, int16(rng.IntN(5)-2), rng.Int32()
	if rng.IntN(3) == 0 {
		id := fmt.Sprintf("txn-%d", rng.IntN(100))
		req.TransactionID = &id
	}
	for range rng.IntN(4) {
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = fmt.Sprintf("topic-%d-%s", rng.IntN(1000), bytes.Repeat([]byte("x"), rng.IntN(140)))
		for i := range rt.TopicID {
			rt.TopicID[i] = byte(rng.IntN(256))
		}
		for range rng.IntN(5) {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition = rng.Int32N(100) - 2
			switch rng.IntN(4) {
			case 0: // null
			case 1:
				rp.Records = []byte{}
			default:
				rp.Records = make([]byte, rng.IntN(300))
				for i := range rp.Records {
					rp.Records[i] = byte(rng.IntN(256))
				}
			}
			if v >= 9 && rng.IntN(3) == 0 {
				rp.UnknownTags.Set(uint32(rng.IntN(5)+1), []byte("tag"))
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		if v >= 9 && rng.IntN(3) == 0 {
			rt.UnknownTags.Set(7, bytes.Repeat([]byte{1}, rng.IntN(200)))
		}
		req.Topics = append(req.Topics, rt)
	}
	if v >= 9 && rng.IntN(3) == 0 {
		req.UnknownTags.Set(3, []byte("top"))
	}
	return req
}

// sameAsKmsg reports how the hand decode of body differs from kmsg's, or
// "" when both fail or both give the same request.
func sameAsKmsg(v int16, body []byte) string {
	want := kmsg.NewPtrProduceRequest()
	want.Version = v
	kerrDecode := want.ReadFrom(body)
	var got produceRequest
	err := got.decode(v, body)
	if (err == nil) != (kerrDecode == nil) {
		return fmt.Sprintf("decode error %v, kmsg %v", err, kerrDecode)
	}
	if err != nil {
		return ""
	}
	if got.acks != want.Acks || got.timeoutMillis != want.TimeoutMillis || len(got.topics) != len(want.Topics) {
		return fmt.Sprintf("acks %d timeout %d topics %d, kmsg %d %d %d", got.acks, got.timeoutMillis, len(got.topics), want.Acks, want.TimeoutMillis, len(want.Topics))
	}
	for i, wt := range want.Topics {
		gt := got.topics[i]
		if (v <= 12 && string(gt.name) != wt.Topic) || (v >= 13 && gt.id != wt.TopicID) || gt.n != len(wt.Partitions) {
			return fmt.Sprintf("topic %d: %q %x %d partitions, kmsg %q %x %d", i, gt.name, gt.id, gt.n, wt.Topic, wt.TopicID, len(wt.Partitions))
		}
		for j, wp := range wt.Partitions {
			gp := got.parts[gt.first+j]
			if gp.partition != wp.Partition || !bytes.Equal(gp.records, wp.Records) || (gp.records == nil) != (wp.Records == nil) {
				return fmt.Sprintf("topic %d partition %d: %d %d bytes (nil %v), kmsg %d %d (nil %v)", i, j,
					gp.partition, len(gp.records), gp.records == nil, wp.Partition, len(wp.Records), wp.Records == nil)
			}
		}
	}
	return ""
}

func TestProduceRequestDecodeMatchesKmsg(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 13))
	for v := int16(3); v <= 13; v++ {
		for i := range 300 {
			body := randomProduceRequest(rng, v).AppendTo(nil)
			if diff := sameAsKmsg(v, body); diff != "" {
				t.Fatalf("v%d request %d: %s", v, i, diff)
			}
			// Every truncation must fail or decode as kmsg does.
			cut := rng.IntN(len(body) + 1)
			if diff := sameAsKmsg(v, body[:cut]); diff != "" {
				t.Fatalf("v%d request %d cut at %d: %s", v, i, cut, diff)
			}
		}
	}
}

// produceEdgeCases are malformed or odd bodies where a hand decoder most
// easily drifts from kmsg: overflowing uvarints, counts beyond the bytes
// left, null arrays, negative string lengths, tags of any size.
var produceEdgeCases = []struct {
	v      int16
	body   []byte
	decode bool // kmsg accepts it
}{
	{3, []byte{0xff, 0xff, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, true},              // null txn, null topics
	{3, []byte{0xff, 0xff, 0, 1, 0, 0, 0, 0, 0, 0, 0x03, 0xe8, 0, 0}, false},             // 1000 topics, 2 bytes
	{3, []byte{0xff, 0xff, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xfe, 0, 0, 0, 0}, false}, // topic name length -2
	{9, []byte{0, 0, 1, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x10, 0}, false},             // uvarint 5th byte > 0x0f
	{9, []byte{0, 0, 1, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x0f, 0}, true},              // topics count wraps to null
	{9, []byte{0, 0, 1, 0, 0, 0, 0, 1, 1, 7, 3, 1, 2, 3}, true},                          // no topics, one tag
	{9, []byte{0, 0, 1, 0, 0, 0, 0, 1, 1, 7, 9, 1}, false},                               // tag longer than the body
	{13, []byte{0, 0, 1, 0, 0, 0, 0, 2, 1, 2, 3}, false},                                 // topic id cut short
}

func TestProduceRequestDecodeEdgeCases(t *testing.T) {
	for i, c := range produceEdgeCases {
		var q produceRequest
		if err := q.decode(c.v, c.body); (err == nil) != c.decode {
			t.Errorf("case %d: decode error %v, want accepted=%v", i, err, c.decode)
		}
		if diff := sameAsKmsg(c.v, c.body); diff != "" {
			t.Errorf("case %d: %s", i, diff)
		}
	}
}

// FuzzProduceRequestDecode checks the hand decoder against kmsg on
// arbitrary bytes: same accept/reject, same topics, partitions, records.
func FuzzProduceRequestDecode(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 1))
	for v := int16(3); v <= 13; v++ {
		f.Add(v, randomProduceRequest(rng, v).AppendTo(nil))
	}
	for _, c := range produceEdgeCases {
		f.Add(c.v, c.body)
	}
	f.Fuzz(func(t *testing.T, v int16, body []byte) {
		v = 3 + (v&0x7fff)%11
		if diff := sameAsKmsg(v, body); diff != "" {
			t.Fatalf("v%d %x: %s", v, body, diff)
		}
	})
}

// TestProduceResponseEncodingMatchesKmsg: the pooled, hand-framed
// response is byte for byte what kmsg encodes for the same answer.
func TestProduceResponseEncodingMatchesKmsg(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for v := int16(3); v <= 13; v++ {
		for i := range 200 {
			req := randomProduceRequest(rng, v)
			c := getProduceCall()
			if err := c.req.decode(v, req.AppendTo(nil)); err != nil {
				t.Fatal(err)
			}
			c.resetResults()
			want := kmsg.NewPtrProduceResponse()
			want.Version = v
			k := 0
			for _, rt := range req.Topics {
				st := kmsg.NewProduceResponseTopic()
				st.Topic, st.TopicID = rt.Topic, rt.TopicID
				for _, rp := range rt.Partitions {
					sp := kmsg.NewProduceResponseTopicPartition()
					sp.Partition = rp.Partition
					r := &c.results[k]
					r.baseOffset, r.logAppendTime, r.logStartOffs = rng.Int64N(1<<40)-1, rng.Int64N(1<<41)-1, rng.Int64N(1<<30)-1
					sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = r.baseOffset, r.logAppendTime, r.logStartOffs
					if rng.IntN(2) == 0 {
						e := kerr.UnknownTopicOrPartition
						r.errCode, sp.ErrorCode = e.Code, e.Code
						if v >= 8 && rng.IntN(2) == 0 {
							r.errMsg, r.hasMsg = e.Message, true
							sp.ErrorMessage = &e.Message
						}
					}
					st.Partitions = append(st.Partitions, sp)
					k++
				}
				want.Topics = append(want.Topics, st)
			}
			c.finish()
			if got, exp := c.AppendTo(nil), want.AppendTo(nil); !bytes.Equal(got, exp) {
				t.Fatalf("v%d response %d:\n got %x\nwant %x", v, i, got, exp)
			}
			if c.GetVersion() != v || c.Key() != 0 || len(c.BodyVec()) != 1 {
				t.Fatalf("v%d: version %d key %d vec %d", v, c.GetVersion(), c.Key(), len(c.BodyVec()))
			}
			c.ReleaseBody()
		}
	}
}

// TestProduceConfigFollowsConfigChanges: the cached produce configs are
// recomputed when the topic's overrides or the dynamic broker layer are
// replaced, as AlterConfigs does.
func TestProduceConfigFollowsConfigChanges(t *testing.T) {
	b := openMemBroker(t, memfs.New())
	defer b.Close()
	if _, kerrv := b.createTopicChecked("cfg", 1, -1, nil, false); kerrv != nil {
		t.Fatal(kerrv)
	}
	batch := func() []byte { return makeBatch(testBatch{values: [][]byte{bytes.Repeat([]byte("v"), 200)}}) }
	produce := func() produceResult {
		var res produceResult
		_, _, _, _, err := b.produceOne([]byte("cfg"), [16]byte{}, 1, producePartReq{records: batch()}, &res)
		res.errCode = errCode(err)
		return res
	}
	if r := produce(); r.errCode != 0 || r.logAppendTime != -1 {
		t.Fatalf("default configs: %+v", r)
	}
	b.adminMu.Lock()
	if e := b.setTopicConfigs(b.lookupTopic("cfg"), map[string]string{"max.message.bytes": "100", "message.timestamp.type": "LogAppendTime"}); e != nil {
		t.Fatal(e)
	}
	b.adminMu.Unlock()
	if r := produce(); r.errCode != kerr.MessageTooLarge.Code {
		t.Fatalf("max.message.bytes=100: %+v", r)
	}
	b.adminMu.Lock()
	b.setTopicConfigs(b.lookupTopic("cfg"), map[string]string{"message.timestamp.type": "LogAppendTime"})
	b.adminMu.Unlock()
	if r := produce(); r.errCode != 0 || r.logAppendTime <= 0 {
		t.Fatalf("LogAppendTime: %+v", r)
	}
	b.adminMu.Lock()
	b.setTopicConfigs(b.lookupTopic("cfg"), map[string]string{})
	b.setDynamicBrokerConfigs(map[string]string{"message.max.bytes": "150"})
	b.adminMu.Unlock()
	if r := produce(); r.errCode != kerr.MessageTooLarge.Code {
		t.Fatalf("dynamic message.max.bytes=150: %+v", r)
	}
}
