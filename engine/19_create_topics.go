package engine

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateTopics: v0-7
//
// Behaviour:
//   - Name validation (INVALID_TOPIC_EXCEPTION; names differing only in '.'
//     vs '_' from an existing topic collide), TOPIC_ALREADY_EXISTS, a name
//     twice in one request INVALID_REQUEST.
//   - NumPartitions / ReplicationFactor -1 take the broker defaults (v4+,
//     KIP-464); 0 or < -1 partitions INVALID_PARTITIONS; a replication factor
//     above the broker count (1 standalone) or 0 INVALID_REPLICATION_FACTOR.
//   - Manual ReplicaAssignment: partitions 0..n-1 each with exactly this
//     broker, else INVALID_REPLICA_ASSIGNMENT.
//   - Configs: only the topic configs Chronik honours; others INVALID_CONFIG.
//   - ValidateOnly (v1+) runs every check and creates nothing.
//   - __consumer_offsets cannot be created by clients (INVALID_REQUEST):
//     the group coordinator creates it on first use.
//   - Every requested topic appears in the response.
//
// Version notes: v1 ValidateOnly, ErrorMessage; v4 defaults; v5 flexible,
// configs in response; v7 topic id.

func init() { regKey(19, 0, 7, handleCreateTopics) }

func handleCreateTopics(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		if seen[rt.Topic] > 1 {
			st.ErrorCode = kerr.InvalidRequest.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		nparts, rf := rt.NumPartitions, rt.ReplicationFactor
		var kerrv *kerr.Error
		if len(rt.ReplicaAssignment) > 0 && b.clustered() {
			resp.Topics = append(resp.Topics, b.createAssignedTopic(req, rt))
			continue
		}
		if len(rt.ReplicaAssignment) > 0 {
			nparts, rf, kerrv = b.checkAssignment(rt)
		}
		configs, cerr := requestedTopicConfigs(rt)
		if kerrv == nil {
			kerrv = cerr
		}
		var t *topic
		if kerrv == nil {
			t, kerrv = b.createTopicChecked(rt.Topic, nparts, rf, configs, req.ValidateOnly)
		}
		if kerrv != nil {
			st.ErrorCode = kerrv.Code
			if req.Version >= 1 {
				st.ErrorMessage = strp(kerrv.Message)
			}
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if nparts < 0 {
			nparts = b.cfg.NumPartitions
		}
		if rf < 0 {
			rf = b.cfg.DefaultReplication
		}
		st.NumPartitions, st.ReplicationFactor = nparts, rf
		if t != nil {
			st.TopicID = t.id
			st.Configs = b.createdConfigs(t)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// checkAssignment validates a manual replica assignment for a standalone
// broker and returns the partition count and replication factor it implies.
func (b *Broker) checkAssignment(rt kmsg.CreateTopicsRequestTopic) (int32, int16, *kerr.Error) {
	if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
		return 0, 0, kerr.InvalidRequest
	}
	ids := map[int32]bool{}
	for _, ra := range rt.ReplicaAssignment {
		if ids[ra.Partition] || len(ra.Replicas) != 1 || ra.Replicas[0] != b.cfg.NodeID {
			return 0, 0, kerr.InvalidReplicaAssignment
		}
		ids[ra.Partition] = true
	}
	for i := range int32(len(ids)) {
		if !ids[i] {
			return 0, 0, kerr.InvalidReplicaAssignment
		}
	}
	return int32(len(ids)), 1, nil
}

// createdConfigs lists a new topic's effective configs for the v5+ response.
func (b *Broker) createdConfigs(t *topic) []kmsg.CreateTopicsResponseTopicConfig {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out []kmsg.CreateTopicsResponseTopicConfig
	for _, d := range topicConfigDefs {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		v, override := b.topicConfig(t, d.name)
		c.Name, c.Value = d.name, strp(v)
		c.Source = int8(kmsg.ConfigSourceDefaultConfig)
		if override {
			c.Source = int8(kmsg.ConfigSourceDynamicTopicConfig)
		}
		out = append(out, c)
	}
	return out
}

// createTopicChecked validates and (unless validateOnly) creates a topic
// through the Cluster. nparts or rf of -1 take the broker defaults.
func (b *Broker) createTopicChecked(name string, nparts int32, rf int16, configs map[string]string, validateOnly bool) (*topic, *kerr.Error) {
	if !validTopicName(name) {
		return nil, kerr.InvalidTopicException
	}
	if isInternalTopic(name) {
		return nil, kerr.InvalidRequest // the group coordinator creates it
	}
	if nparts == -1 {
		nparts = b.cfg.NumPartitions
	}
	if rf == -1 {
		rf = b.cfg.DefaultReplication
	}
	switch {
	case nparts <= 0:
		return nil, kerr.InvalidPartitions
	case rf <= 0 || int(rf) > b.cluster().ReplicaBrokers():
		return nil, kerr.InvalidReplicationFactor
	}
	return b.createClusterTopic(name, nparts, rf, configs, nil, validateOnly)
}

// requestedTopicConfigs validates a CreateTopics topic's configs (null
// values are skipped, as Kafka does) and returns them as overrides.
func requestedTopicConfigs(rt kmsg.CreateTopicsRequestTopic) (map[string]string, *kerr.Error) {
	configs := map[string]string{}
	for _, rc := range rt.Configs {
		if rc.Value == nil {
			continue
		}
		if kerrv := validateTopicConfig(rc.Name, *rc.Value); kerrv != nil {
			return nil, kerrv
		}
		configs[rc.Name] = *rc.Value
	}
	return configs, nil
}
