package engine

import (
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metadata: v0-12
//
// Behaviour:
//   - Brokers: from the Cluster (cluster.go): standalone, this broker at its
//     advertised listener and controller = itself; in a cluster, every live
//     broker and the metadata shard leader as controller.
//   - Topics: v0 empty list = all topics; v1+ null = all, empty = none. v10+
//     topic ids; v12 topics may be named by id only (null name).
//   - Unknown topics are auto-created (auto.create.topics.enable, num.partitions)
//     when the request allows it (always before v4; AllowAutoTopicCreation
//     from v4). A name that is not valid gets INVALID_TOPIC_EXCEPTION; an
//     unknown topic without auto-creation UNKNOWN_TOPIC_OR_PARTITION.
//   - __consumer_offsets is listed with IsInternal (v1+) once it exists;
//     asked for by name it is created as the group coordinator creates it.
//   - Partitions: leader, leader epoch, replicas, ISR and offline replicas
//     from the Cluster; a partition without a leader is LEADER_NOT_AVAILABLE.
//
// Version notes: v1 controller id, rack, internal flag; v2 cluster id;
// v3 throttle; v5 offline replicas; v7 leader epoch; v8-10 authorized
// operations; v9 flexible; v10 topic ids; v12 topic id lookups.

func init() { regKey(3, 0, 12, handleMetadata) }

func handleMetadata(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	brokers, controller := b.cluster().Brokers()
	for _, cb := range brokers {
		br := kmsg.NewMetadataResponseBroker()
		br.NodeID, br.Host, br.Port, br.Rack = cb.ID, cb.Host, cb.Port, cb.Rack
		resp.Brokers = append(resp.Brokers, br)
	}
	resp.ClusterID = strp(b.cluster().ClusterID())
	resp.ControllerID = controller

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, t := range b.topicList() {
			resp.Topics = append(resp.Topics, b.metadataTopic(t))
		}
		return resp, nil
	}
	autoCreate := b.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		resp.Topics = append(resp.Topics, b.metadataForRequested(rt, autoCreate))
	}
	return resp, nil
}

func (b *Broker) metadataForRequested(rt kmsg.MetadataRequestTopic, autoCreate bool) kmsg.MetadataResponseTopic {
	if rt.Topic == nil {
		t, _ := b.lookupPartition("", rt.TopicID, -1)
		if t == nil {
			st := kmsg.NewMetadataResponseTopic()
			st.TopicID = rt.TopicID
			st.ErrorCode = kerr.UnknownTopicID.Code
			return st
		}
		return b.metadataTopic(t)
	}
	name := *rt.Topic
	st := kmsg.NewMetadataResponseTopic()
	st.Topic = strp(name)
	if t := b.lookupTopic(name); t != nil {
		return b.metadataTopic(t)
	}
	if !validTopicName(name) {
		st.ErrorCode = kerr.InvalidTopicException.Code
		return st
	}
	if !autoCreate {
		st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return st
	}
	if isInternalTopic(name) {
		// Created as the group coordinator creates it, never with user defaults.
		if kerrv := b.groups.EnsureTopic(); kerrv != nil {
			st.ErrorCode = kerrv.Code
			return st
		}
		return b.metadataTopic(b.lookupTopic(name))
	}
	t, kerrv := b.createTopicChecked(name, b.cfg.NumPartitions, -1, nil, false)
	if kerrv != nil && kerrv != kerr.TopicAlreadyExists {
		st.ErrorCode = kerrv.Code
		return st
	}
	if t == nil {
		t = b.lookupTopic(name)
	}
	if t == nil {
		st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return st
	}
	return b.metadataTopic(t)
}

func (b *Broker) lockedMetadataTopic(t *topic) kmsg.MetadataResponseTopic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.metadataTopic(t)
}

// metadataTopic describes t. Caller holds b.mu (read).
func (b *Broker) metadataTopic(t *topic) kmsg.MetadataResponseTopic {
	st := kmsg.NewMetadataResponseTopic()
	st.Topic = strp(t.name)
	st.TopicID = t.id
	st.IsInternal = isInternalTopic(t.name)
	for i := range b.topicPartitions(t) {
		sp := kmsg.NewMetadataResponseTopicPartition()
		sp.Partition = int32(i)
		pl, ok := b.cluster().Partition(t.name, int32(i))
		if !ok || pl.Leader < 0 {
			sp.ErrorCode = kerr.LeaderNotAvailable.Code
			pl.Leader = -1
		}
		sp.Leader, sp.LeaderEpoch = pl.Leader, pl.LeaderEpoch
		sp.Replicas, sp.ISR, sp.OfflineReplicas = pl.Replicas, pl.ISR, pl.Offline
		if sp.OfflineReplicas == nil {
			sp.OfflineReplicas = []int32{}
		}
		st.Partitions = append(st.Partitions, sp)
	}
	return st
}

// advertised returns the host and port clients should dial: never a
// wildcard address (clients cannot dial 0.0.0.0).
func (b *Broker) advertised() (string, int32) {
	addr := b.cfg.AdvertisedListener
	if a := b.advertisedAddr.Load(); a != nil {
		addr = *a
	}
	host, port, ok := hostPort(addr)
	if !ok {
		return "127.0.0.1", 9092
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return host, port
}

// hostPort splits host:port for Metadata's host and port fields.
func hostPort(addr string) (string, int32, bool) {
	host, portS, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0, false
	}
	port, err := strconv.ParseUint(portS, 10, 16)
	return host, int32(port), err == nil
}
