package engine

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterCommitTimeout bounds how long a request worker waits for a
// metadata commit (no quorum -> REQUEST_TIMED_OUT).
const clusterCommitTimeout = 15 * time.Second

// createClusterTopic creates a topic through the Cluster and returns the
// local topic. validateOnly checks the name against the local topics and
// creates nothing; the Cluster (in a cluster: the state machine) repeats
// every check.
func (b *Broker) createClusterTopic(name string, nparts int32, rf int16, configs map[string]string, manual [][]int32, validateOnly bool) (*topic, *kerr.Error) {
	if validateOnly {
		return nil, b.checkNewTopicName(name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterCommitTimeout)
	defer cancel()
	if err := b.cluster().CreateTopic(ctx, name, nparts, rf, configs, manual); err != nil {
		ke := kafkaCode(err)
		if ke != kerr.TopicAlreadyExists && ke != kerr.InvalidTopicException {
			b.log.Warn("create topic", "topic", name, "err", err)
		}
		return nil, ke
	}
	t := b.lookupTopic(name)
	if t == nil { // deleted again between the commit and now
		return nil, kerr.UnknownTopicOrPartition
	}
	return t, nil
}

// createAssignedTopic serves one CreateTopics entry with a manual replica
// assignment in a cluster: NumPartitions and ReplicationFactor must be -1,
// the partitions 0..n-1 each listed once with the same number of replicas.
// The state machine checks that every replica is a registered broker
// (INVALID_REPLICA_ASSIGNMENT).
func (b *Broker) createAssignedTopic(req *kmsg.CreateTopicsRequest, rt kmsg.CreateTopicsRequestTopic) kmsg.CreateTopicsResponseTopic {
	st := kmsg.NewCreateTopicsResponseTopic()
	st.Topic = rt.Topic
	manual, kerrv := clusterAssignment(rt)
	configs, cerr := requestedTopicConfigs(rt)
	if kerrv == nil {
		kerrv = cerr
	}
	var t *topic
	if kerrv == nil && !validTopicName(rt.Topic) {
		kerrv = kerr.InvalidTopicException
	}
	if kerrv == nil {
		t, kerrv = b.createClusterTopic(rt.Topic, int32(len(manual)), int16(len(manual[0])), configs, manual, req.ValidateOnly)
	}
	if kerrv != nil {
		st.ErrorCode = kerrv.Code
		if req.Version >= 1 {
			st.ErrorMessage = strp(kerrv.Message)
		}
		return st
	}
	st.NumPartitions, st.ReplicationFactor = int32(len(manual)), int16(len(manual[0]))
	if t != nil {
		st.TopicID = t.id
		st.Configs = b.createdConfigs(t)
	}
	return st
}

func clusterAssignment(rt kmsg.CreateTopicsRequestTopic) ([][]int32, *kerr.Error) {
	if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
		return nil, kerr.InvalidRequest
	}
	byPart := map[int32][]int32{}
	for _, ra := range rt.ReplicaAssignment {
		if _, dup := byPart[ra.Partition]; dup || len(ra.Replicas) == 0 {
			return nil, kerr.InvalidReplicaAssignment
		}
		byPart[ra.Partition] = ra.Replicas
	}
	manual := make([][]int32, len(byPart))
	for i := range manual {
		reps, ok := byPart[int32(i)]
		if !ok || len(reps) != len(byPart[0]) {
			return nil, kerr.InvalidReplicaAssignment
		}
		manual[i] = reps
	}
	return manual, nil
}
