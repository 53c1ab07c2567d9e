package engine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// randomFetch builds the same response twice from rng: by hand
// (fetchResponse, records in 1-3 slices) and with kmsg.
func randomFetch(rng *rand.Rand, version int16) (*fetchResponse, *kmsg.FetchResponse) {
	want := kmsg.NewPtrFetchResponse()
	want.Version = version
	nTopics := rng.IntN(4)
	got := newFetchResponse(version, nTopics)
	for ti := range nTopics {
		wt := kmsg.NewFetchResponseTopic()
		if version <= 12 {
			wt.Topic = fmt.Sprintf("topic-%d-%s", ti, string(bytes.Repeat([]byte{'x'}, rng.IntN(200))))
		}
		if version >= 13 {
			binary.BigEndian.PutUint64(wt.TopicID[:], rng.Uint64())
			binary.BigEndian.PutUint64(wt.TopicID[8:], rng.Uint64())
		}
		nParts := rng.IntN(5)
		got.beginTopic(wt.Topic, wt.TopicID, nParts)
		for range nParts {
			p := fetchPart{
				partition: rng.Int32(), errCode: int16(rng.IntN(120) - 1),
				hw: rng.Int64() - 1<<62, lastStable: rng.Int64N(1 << 40), logStart: rng.Int64N(1<<40) - 1,
				preferred: rng.Int32N(5) - 1,
			}
			wp := kmsg.NewFetchResponseTopicPartition()
			wp.Partition, wp.ErrorCode, wp.HighWatermark = p.partition, p.errCode, p.hw
			wp.LastStableOffset, wp.LogStartOffset = p.lastStable, p.logStart
			if version >= 11 {
				wp.PreferredReadReplica = p.preferred
			}
			wp.RecordBatches = []byte{}
			v := got.nextView()
			for range rng.IntN(4) {
				b := make([]byte, rng.IntN(300))
				for i := range b {
					b[i] = byte(rng.Uint32())
				}
				v.Slices = append(v.Slices, b)
				v.Len += int64(len(b))
				wp.RecordBatches = append(wp.RecordBatches, b...)
			}
			got.addPartition(p, v.Len > 0)
			wt.Partitions = append(wt.Partitions, wp)
		}
		got.endTopic()
		want.Topics = append(want.Topics, wt)
	}
	got.finish()
	return got, want
}

// TestFetchFramingMatchesKmsgForEveryVersion checks the hand-rolled Fetch
// encoding byte for byte against kmsg's, and decodes it with kmsg.
func TestFetchFramingMatchesKmsgForEveryVersion(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for version := int16(4); version <= 16; version++ {
		for range 50 {
			checkFetchFraming(t, rng, version)
		}
	}
}

func checkFetchFraming(t *testing.T, rng *rand.Rand, version int16) {
	t.Helper()
	got, want := randomFetch(rng, version)
	defer got.ReleaseBody()
	gotBytes := got.AppendTo(nil)
	if wantBytes := want.AppendTo(nil); !bytes.Equal(gotBytes, wantBytes) {
		t.Fatalf("v%d: %d bytes differ from kmsg's %d", version, len(gotBytes), len(wantBytes))
	}
	dec := kmsg.NewPtrFetchResponse()
	dec.Version = version
	if err := dec.ReadFrom(gotBytes); err != nil {
		t.Fatalf("v%d: kmsg cannot decode: %v", version, err)
	}
	if len(dec.Topics) != len(want.Topics) {
		t.Fatalf("v%d: %d topics decoded, want %d", version, len(dec.Topics), len(want.Topics))
	}
	for i, dt := range dec.Topics {
		for j, dp := range dt.Partitions {
			wp := want.Topics[i].Partitions[j]
			if dp.HighWatermark != wp.HighWatermark || !bytes.Equal(dp.RecordBatches, wp.RecordBatches) || dp.RecordBatches == nil {
				t.Fatalf("v%d: topic %d partition %d decoded differently", version, i, j)
			}
		}
	}
}

func FuzzFetchFraming(f *testing.F) {
	f.Add(uint64(1), uint8(4))
	f.Add(uint64(99), uint8(12))
	f.Add(uint64(7), uint8(16))
	f.Fuzz(func(t *testing.T, seed uint64, v uint8) {
		version := int16(4 + v%13)
		checkFetchFraming(t, rand.New(rand.NewPCG(seed, seed>>1)), version)
	})
}
