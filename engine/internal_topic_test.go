package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka's broker-side answers for admin requests on __consumer_offsets:
// only DeleteRecords is refused (ReplicaManager.deleteRecords:
// INVALID_TOPIC_EXCEPTION "Cannot delete records of internal topic").
// DeleteTopics, CreatePartitions and AlterConfigs succeed on the controller
// (ControllerApis / ReplicationControlManager have no internal-topic check;
// kafka-topics.sh refuses to delete it client-side). The coordinator must
// survive each of them.

const offsetsTopic = "__consumer_offsets"

func TestDeleteRecordsOnInternalTopicIsInvalidTopic(t *testing.T) {
	tb := startBroker(t, fastGroups, func(c *engine.Config) { c.OffsetsTopicPartitions = 3 })
	cl := tb.client()
	createTopic(t, cl, "data", 1, nil)
	adm := kadm.NewClient(cl)
	commitOffsets(t, adm, "g", map[int32]int64{0: 7}, "data", "")

	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = offsetsTopic
	for p := range int32(3) {
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = p, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp := direct[*kmsg.DeleteRecordsResponse](t, cl, -1, req)
	for _, p := range resp.Topics[0].Partitions {
		wantCode(t, fmt.Sprintf("delete records %s-%d", offsetsTopic, p.Partition), p.ErrorCode, kerr.InvalidTopicException)
		if p.LowWatermark != -1 {
			t.Fatalf("low watermark %d on a refused partition, want -1", p.LowWatermark)
		}
	}
	checkCommitted(t, adm, "g", "data", map[int32]int64{0: 7}, "")
}

func TestAlterConfigsOnInternalTopicSucceeds(t *testing.T) {
	tb := startBroker(t, fastGroups, func(c *engine.Config) { c.OffsetsTopicPartitions = 2 })
	cl := tb.client()
	createTopic(t, cl, "data", 1, nil)
	adm := kadm.NewClient(cl)
	commitOffsets(t, adm, "g", map[int32]int64{0: 3}, "data", "")

	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, offsetsTopic
	rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	rc.Name, rc.Value = "max.message.bytes", sp("2000000")
	rr.Configs = append(rr.Configs, rc)
	req.Resources = append(req.Resources, rr)
	resp := direct[*kmsg.IncrementalAlterConfigsResponse](t, cl, -1, req)
	wantCode(t, "incremental alter configs "+offsetsTopic, resp.Resources[0].ErrorCode, nil)
	if got := cfgValue(describeTopic(t, adm, offsetsTopic)["max.message.bytes"]); got != "2000000" {
		t.Fatalf("max.message.bytes of %s = %q after the change", offsetsTopic, got)
	}
	commitOffsets(t, adm, "g", map[int32]int64{0: 4}, "data", "")
	checkCommitted(t, adm, "g", "data", map[int32]int64{0: 4}, "")
}

// Growing __consumer_offsets succeeds and never moves a group: every
// group's offsets are still served, and new commits land, after the growth
// and after a restart (groups are placed over offsets.topic.num.partitions).
func TestCreatePartitionsOnInternalTopicKeepsGroupsInPlace(t *testing.T) {
	tb := startBroker(t, fastGroups, func(c *engine.Config) { c.OffsetsTopicPartitions = 3 })
	cl := tb.client()
	createTopic(t, cl, "data", 1, nil)
	adm := kadm.NewClient(cl)
	const groups = 12
	for i := range groups {
		commitOffsets(t, adm, fmt.Sprintf("g%d", i), map[int32]int64{0: int64(i)}, "data", "")
	}
	resp, err := adm.CreatePartitions(ctxT(t, 10*time.Second), 4, offsetsTopic)
	if err != nil {
		t.Fatal(err)
	}
	if r := resp[offsetsTopic]; r.Err != nil {
		t.Fatalf("grow %s: %v", offsetsTopic, r.Err)
	}
	if n := partitionCount(t, cl, offsetsTopic); n != 7 {
		t.Fatalf("%s has %d partitions after growing by 4, want 7", offsetsTopic, n)
	}
	for i := range groups {
		commitOffsets(t, adm, fmt.Sprintf("g%d", i), map[int32]int64{0: int64(100 + i)}, "data", "")
	}
	tb.restart()
	adm = kadm.NewClient(tb.client())
	for i := range groups {
		checkCommitted(t, adm, fmt.Sprintf("g%d", i), "data", map[int32]int64{0: int64(100 + i)}, "")
	}
	// Nothing was written to the added partitions: groups stay on 0-2.
	lo, err := adm.ListEndOffsets(ctxT(t, 10*time.Second), offsetsTopic)
	if err != nil {
		t.Fatal(err)
	}
	lo.Each(func(o kadm.ListedOffset) {
		if o.Partition >= 3 && o.Offset != 0 {
			t.Errorf("%s-%d has %d records; groups must stay on partitions 0-2", offsetsTopic, o.Partition, o.Offset)
		}
	})
}

// Deleting __consumer_offsets succeeds, drops every group with it, and the
// coordinator creates the topic again on the next commit.
func TestDeleteInternalTopicUnloadsGroupsAndRecreatesIt(t *testing.T) {
	tb := startBroker(t, fastGroups, func(c *engine.Config) { c.OffsetsTopicPartitions = 2 })
	cl := tb.client()
	createTopic(t, cl, "data", 1, nil)
	adm := kadm.NewClient(cl)
	commitOffsets(t, adm, "before", map[int32]int64{0: 5}, "data", "")
	oldID := topicIDOf(t, cl, offsetsTopic)

	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TopicNames = []string{offsetsTopic}
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = sp(offsetsTopic)
	req.Topics = append(req.Topics, dt)
	resp := direct[*kmsg.DeleteTopicsResponse](t, cl, -1, req)
	wantCode(t, "delete "+offsetsTopic, resp.Topics[0].ErrorCode, nil)
	if len(partitionDirs(t, tb.cfg.DataDir, offsetsTopic)) != 0 {
		t.Fatalf("%s partition directories left after deletion", offsetsTopic)
	}

	got, err := adm.FetchOffsets(ctxT(t, 10*time.Second), "before")
	if err != nil {
		t.Fatalf("fetch offsets after deletion: %v", err)
	}
	if r, ok := got.Lookup("data", 0); ok && r.Err == nil && r.At >= 0 {
		t.Fatalf("group offsets survived the deletion of %s: %+v", offsetsTopic, r)
	}
	commitOffsets(t, adm, "after", map[int32]int64{0: 9}, "data", "")
	checkCommitted(t, adm, "after", "data", map[int32]int64{0: 9}, "")
	if topicIDOf(t, cl, offsetsTopic) == oldID {
		t.Fatalf("%s was not created again with a new id", offsetsTopic)
	}
	tb.restart()
	checkCommitted(t, kadm.NewClient(tb.client()), "after", "data", map[int32]int64{0: 9}, "")
}
