package testbed

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// PartitionState is a partition as one broker's Metadata describes it.
type PartitionState struct {
	Leader, LeaderEpoch int32
	Replicas            []int32 // in assignment order: the preferred leader first
	ISR                 []int32 // sorted
}

// TopicMetadata asks broker addr itself (not any broker a client would
// pick) for topic's partitions, and returns them with the controller id
// it reports.
func TopicMetadata(ctx context.Context, addr, topic string) (int32, map[int32]PartitionState, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0))
	if err != nil {
		return 0, nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := req.RequestWith(rctx, cl.SeedBrokers()[0])
	if err != nil {
		return 0, nil, err
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		return 0, nil, fmt.Errorf("metadata of %s from %s: %+v", topic, addr, resp.Topics)
	}
	out := map[int32]PartitionState{}
	for _, p := range resp.Topics[0].Partitions {
		isr := slices.Clone(p.ISR)
		slices.Sort(isr)
		out[p.Partition] = PartitionState{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: isr}
	}
	return resp.ControllerID, out, nil
}
