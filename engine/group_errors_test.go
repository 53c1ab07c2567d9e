package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type commitPart struct {
	topic     string
	partition int32
	metadata  string
}

// rawCommit commits offset 1 to each part and returns the error per part.
func rawCommit(t *testing.T, cl *kgo.Client, group, member string, gen int32, parts ...commitPart) []*kerr.Error {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation = group, member, gen
	for _, p := range parts {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = p.topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata = p.partition, 1, kmsg.StringPtr(p.metadata)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctxT(t, 10*time.Second), cl)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	var out []*kerr.Error
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			e, _ := kerr.ErrorForCode(rp.ErrorCode).(*kerr.Error)
			out = append(out, e)
		}
	}
	return out
}

func wantErrs(t *testing.T, what string, got []*kerr.Error, want ...*kerr.Error) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d results, want %d", what, len(got), len(want))
		return
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s [%d]: %v, want %v", what, i, got[i], want[i])
		}
	}
}

func TestOffsetCommitBadInputGetsKafkaErrors(t *testing.T) {
	tb := startBroker(t, fastGroups)
	cl := tb.client(kgo.RequestRetries(0))
	createTopic(t, cl, "known", 2, nil)
	j := joinAndSync(t, cl, joinOpts{group: "active", sessionMs: 10000, topics: []string{"known"}}, consumerMeta())
	ok := commitPart{"known", 0, ""}

	wantErrs(t, "unknown topic and partition", rawCommit(t, cl, "active", j.MemberID, j.Generation,
		commitPart{"nope", 0, ""}, commitPart{"known", 7, ""}, ok),
		kerr.UnknownTopicOrPartition, kerr.UnknownTopicOrPartition, nil)
	wantErrs(t, "wrong generation", rawCommit(t, cl, "active", j.MemberID, j.Generation+1, ok), kerr.IllegalGeneration)
	wantErrs(t, "unknown member", rawCommit(t, cl, "active", "who", j.Generation, ok), kerr.UnknownMemberID)
	wantErrs(t, "simple commit to a group with members", rawCommit(t, cl, "active", "", -1, ok), kerr.UnknownMemberID)
	wantErrs(t, "member commit to a group that does not exist", rawCommit(t, cl, "ghost", "m", 3, ok), kerr.IllegalGeneration)
	wantErrs(t, "oversized metadata", rawCommit(t, cl, "active", j.MemberID, j.Generation,
		commitPart{"known", 0, strings.Repeat("x", 4097)}, commitPart{"known", 1, strings.Repeat("y", 4096)}),
		kerr.OffsetMetadataTooLarge, nil)

	adm := kadm.NewClient(cl)
	got, err := adm.FetchOffsets(ctxT(t, 10*time.Second), "active")
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := got.Lookup("known", 1); r.At != 1 || len(r.Metadata) != 4096 {
		t.Errorf("commit beside the oversized one: %+v", r)
	}
	if _, found := got.Lookup("known", 0); found && got["known"][0].At != 1 {
		t.Errorf("partition 0 = %+v", got["known"][0])
	}
	if _, found := adm.FetchOffsets(ctxT(t, 10*time.Second), "ghost"); found != nil {
		t.Errorf("fetch for unknown group: %v", found)
	}
}

func TestGroupAPIsBadInputGetsKafkaErrors(t *testing.T) {
	tb := startBroker(t, fastGroups)
	cl := tb.client(kgo.RequestRetries(0))
	createTopic(t, cl, "g-topic", 1, nil)
	j := joinAndSync(t, cl, joinOpts{group: "busy", sessionMs: 10000, topics: []string{"g-topic"}}, consumerMeta())

	join := func(o joinOpts, ptype string) *kerr.Error {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis, req.ProtocolType = o.group, o.sessionMs, 1000, ptype
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", consumerMeta("g-topic")
		req.Protocols = append(req.Protocols, p)
		resp, err := req.RequestWith(ctxT(t, 10*time.Second), cl)
		if err != nil {
			t.Fatal(err)
		}
		e, _ := kerr.ErrorForCode(resp.ErrorCode).(*kerr.Error)
		return e
	}
	checks := []struct {
		what      string
		got, want *kerr.Error
	}{
		{"join with a session timeout below the minimum", join(joinOpts{group: "x", sessionMs: 50}, "consumer"), kerr.InvalidSessionTimeout},
		{"join with an empty group id", join(joinOpts{group: "", sessionMs: 1000}, "consumer"), kerr.InvalidGroupID},
		{"join with another protocol type", join(joinOpts{group: "busy", sessionMs: 1000}, "connect"), kerr.InconsistentGroupProtocol},
		{"sync with a wrong generation", errOf(rawSync(t, cl, "busy", j.MemberID, nil, j.Generation+1, false, nil).ErrorCode), kerr.IllegalGeneration},
		{"sync from an unknown member", errOf(rawSync(t, cl, "busy", "nobody", nil, j.Generation, false, nil).ErrorCode), kerr.UnknownMemberID},
		{"heartbeat to an unknown group", rawHeartbeat(t, cl, "nogroup", "m", nil, 1), kerr.UnknownMemberID},
		{"heartbeat with a wrong generation", rawHeartbeat(t, cl, "busy", j.MemberID, nil, j.Generation+5), kerr.IllegalGeneration},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}

	// DeleteGroups: members -> NON_EMPTY_GROUP, unknown -> GROUP_ID_NOT_FOUND,
	// an Empty group with offsets is deleted with them.
	adm := kadm.NewClient(cl)
	commitOffsets(t, adm, "idle", map[int32]int64{0: 5}, "g-topic", "")
	dresp, err := adm.DeleteGroups(ctxT(t, 10*time.Second), "busy", "missing", "idle")
	if err != nil {
		t.Fatal(err)
	}
	for group, want := range map[string]error{"busy": kerr.NonEmptyGroup, "missing": kerr.GroupIDNotFound, "idle": nil} {
		if got := dresp[group].Err; got != want {
			t.Errorf("delete %s: %v, want %v", group, got, want)
		}
	}
	if offs, _ := adm.FetchOffsets(ctxT(t, 10*time.Second), "idle"); len(offs) != 0 {
		t.Errorf("deleted group still has offsets %v", offs)
	}

	// OffsetDelete: subscribed topic of an active consumer group, unknown group.
	oresp, err := adm.DeleteOffsets(ctxT(t, 10*time.Second), "busy", kadm.TopicsSet{"g-topic": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := oresp["g-topic"][0]; got != kerr.GroupSubscribedToTopic {
		t.Errorf("offset delete of a subscribed topic: %v, want GROUP_SUBSCRIBED_TO_TOPIC", got)
	}
	if _, err := adm.DeleteOffsets(ctxT(t, 10*time.Second), "missing", kadm.TopicsSet{"g-topic": {0: {}}}); err != kerr.GroupIDNotFound {
		t.Errorf("offset delete for an unknown group: %v, want GROUP_ID_NOT_FOUND", err)
	}

	// Producing to the internal topic is refused as Kafka refuses it.
	if err := cl.ProduceSync(ctxT(t, 10*time.Second), &kgo.Record{Topic: "__consumer_offsets", Value: []byte("x")}).FirstErr(); err != kerr.InvalidTopicException {
		t.Errorf("produce to __consumer_offsets: %v, want INVALID_TOPIC_EXCEPTION", err)
	}
	if resp, err := adm.CreateTopics(ctxT(t, 10*time.Second), 1, 1, nil, "__consumer_offsets"); err != nil || resp["__consumer_offsets"].Err != kerr.InvalidRequest {
		t.Errorf("create __consumer_offsets: %v %v, want INVALID_REQUEST", err, resp["__consumer_offsets"].Err)
	}
}

func errOf(code int16) *kerr.Error {
	e, _ := kerr.ErrorForCode(code).(*kerr.Error)
	return e
}

func TestGroupToolingDescribesListsAndFindsCoordinators(t *testing.T) {
	tb := startBroker(t, fastGroups, func(c *engine.Config) { c.OffsetsTopicPartitions = 7 })
	cl := tb.client(kgo.RequestRetries(0))
	createTopic(t, cl, "tool", 1, nil)
	j := joinAndSync(t, cl, joinOpts{group: "described", sessionMs: 10000, topics: []string{"tool"}}, []byte("assign-bytes"))
	adm := kadm.NewClient(cl)
	commitOffsets(t, adm, "offsets-only", map[int32]int64{0: 3}, "tool", "")

	dg := describeGroup(t, cl, "described")
	if dg.State != "Stable" || dg.ProtocolType != "consumer" || dg.Protocol != "range" || len(dg.Members) != 1 ||
		dg.Members[0].MemberID != j.MemberID || string(dg.Members[0].MemberAssignment) != "assign-bytes" ||
		!strings.HasPrefix(dg.Members[0].ClientHost, "/127.0.0.1") {
		t.Errorf("describe: %+v", dg)
	}
	for _, v := range []int16{5, 6} {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{"unknown"}
		resp, err := req.RequestWith(ctxT(t, 10*time.Second), pinned(tb, 15, v))
		if err != nil {
			t.Fatal(err)
		}
		want := int16(0)
		if v >= 6 {
			want = kerr.GroupIDNotFound.Code
		}
		if g := resp.Groups[0]; g.State != "Dead" || g.ErrorCode != want {
			t.Errorf("describe unknown group v%d: state %s error %v", v, g.State, kerr.ErrorForCode(g.ErrorCode))
		}
	}

	listed, err := adm.ListGroups(ctxT(t, 10*time.Second), "Empty")
	if err != nil {
		t.Fatal(err)
	}
	if names := sortedKeys(listed); len(names) != 1 || names[0] != "offsets-only" {
		t.Errorf("groups in state Empty: %v, want [offsets-only]", names)
	}
	listed, _ = adm.ListGroups(ctxT(t, 10*time.Second))
	if names := sortedKeys(listed); len(names) != 2 || listed["described"].State != "Stable" {
		t.Errorf("all groups: %+v", listed)
	}

	// FindCoordinator v4 answers batched keys one by one; type 1 has none.
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKeys = []string{"described", "another"}
	fresp, err := fc.RequestWith(ctxT(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	// kgo dedups the keys through a map, so the answer's order is random.
	answered := map[string]bool{}
	for _, rc := range fresp.Coordinators {
		answered[rc.Key] = rc.NodeID == tb.cfg.NodeID && rc.ErrorCode == 0
	}
	if len(fresp.Coordinators) != 2 || !answered["described"] || !answered["another"] {
		t.Errorf("find coordinators: %+v", fresp.Coordinators)
	}
	fc.CoordinatorType = 1
	if fresp, err = fc.RequestWith(ctxT(t, 10*time.Second), cl); err != nil || fresp.Coordinators[0].ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Errorf("transaction coordinator: %v %+v", err, fresp)
	}

	// The internal topic is listed as internal with the configured partitions.
	md := kmsg.NewPtrMetadataRequest()
	mresp, err := md.RequestWith(ctxT(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mt := range mresp.Topics {
		if *mt.Topic == "__consumer_offsets" {
			found = mt.IsInternal && len(mt.Partitions) == 7
		}
	}
	if !found {
		t.Error("metadata does not list __consumer_offsets as internal with 7 partitions")
	}

	// OffsetFetch v8 with several groups; null topics = every offset.
	of := kmsg.NewPtrOffsetFetchRequest()
	for _, g := range []string{"offsets-only", "described", "never"} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g
		of.Groups = append(of.Groups, rg)
	}
	oresp, err := of.RequestWith(ctxT(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, g := range oresp.Groups {
		for _, tp := range g.Topics {
			for _, p := range tp.Partitions {
				if p.Offset == 3 && g.Group == "offsets-only" {
					counts[g.Group]++
				} else if g.Group != "offsets-only" {
					counts[g.Group]++
				}
			}
		}
	}
	if len(oresp.Groups) != 3 || counts["offsets-only"] != 1 || counts["described"] != 0 || counts["never"] != 0 {
		t.Errorf("offset fetch of 3 groups: %+v", oresp.Groups)
	}
}

// An OffsetDelete that deletes nothing (every partition refused) leaves the
// group's other offsets alone, in memory and in the log.
func TestOffsetDeleteThatDeletesNothingKeepsEveryOffset(t *testing.T) {
	tb := startBroker(t, fastGroups)
	cl := tb.client(kgo.RequestRetries(0))
	createTopic(t, cl, "kept", 2, nil)
	adm := kadm.NewClient(cl)
	commitOffsets(t, adm, "idle", map[int32]int64{0: 5, 1: 6}, "kept", "")
	j := joinAndSync(t, cl, joinOpts{group: "busy", sessionMs: 10000, topics: []string{"kept"}}, consumerMeta())
	wantErrs(t, "member commit", rawCommit(t, cl, "busy", j.MemberID, j.Generation, commitPart{"kept", 0, ""}), nil)

	resp, err := adm.DeleteOffsets(ctxT(t, 10*time.Second), "idle", kadm.TopicsSet{"kept": {7: {}}})
	if err != nil || resp["kept"][7] != kerr.UnknownTopicOrPartition {
		t.Fatalf("offset delete of an unknown partition: %v %v, want UNKNOWN_TOPIC_OR_PARTITION", err, resp)
	}
	resp, err = adm.DeleteOffsets(ctxT(t, 10*time.Second), "busy", kadm.TopicsSet{"kept": {0: {}}})
	if err != nil || resp["kept"][0] != kerr.GroupSubscribedToTopic {
		t.Fatalf("offset delete of a subscribed topic: %v %v, want GROUP_SUBSCRIBED_TO_TOPIC", err, resp)
	}
	check := func(when string, adm *kadm.Client) {
		t.Helper()
		for group, want := range map[string]map[int32]int64{"idle": {0: 5, 1: 6}, "busy": {0: 1}} {
			got, err := adm.FetchOffsets(ctxT(t, 10*time.Second), group)
			if err != nil {
				t.Fatalf("%s: fetch offsets of %s: %v", when, group, err)
			}
			for p, o := range want {
				if r, ok := got.Lookup("kept", p); !ok || r.At != o {
					t.Errorf("%s: %s kept[%d] = %+v (found %v), want %d", when, group, p, r, ok, o)
				}
			}
		}
	}
	check("after the refused deletes", adm)
	tb.restart()
	check("after a restart", kadm.NewClient(tb.client()))
}
