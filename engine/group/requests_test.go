package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// member is a consumer-group member driven by hand, one request at a time.
type testMember struct {
	t     testing.TB
	c     *Coordinator
	group string
	id    string
	gen   int32
}

func joinRequest(group, member string, sessionMs int32) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version, req.Group, req.MemberID = 9, group, member
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = sessionMs, 5000
	req.ProtocolType = "consumer"
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"t"}
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", meta.AppendTo(nil)
	req.Protocols = append(req.Protocols, p)
	return req
}

// joinLater sends a JoinGroup (v9) with the member's id; the answer comes
// on the channel.
func (m *testMember) joinLater(sessionMs int32) <-chan *kmsg.JoinGroupResponse {
	req := joinRequest(m.group, m.id, sessionMs)
	return answerLater[*kmsg.JoinGroupResponse](func(respond func(kmsg.Response)) kmsg.Response {
		return m.c.Join(JoinRequest{Req: req, ClientID: "client", ClientHost: "/127.0.0.1", Respond: respond})
	})
}

// newMember gets a member id (MEMBER_ID_REQUIRED) for a new member of group.
func newMember(t testing.TB, c *Coordinator, group string) *testMember {
	t.Helper()
	m := &testMember{t: t, c: c, group: group}
	j := await(t, m.joinLater(10000))
	if j.ErrorCode != kerr.MemberIDRequired.Code || j.MemberID == "" {
		t.Fatalf("first join: %v member %q, want MEMBER_ID_REQUIRED with an id", kerr.ErrorForCode(j.ErrorCode), j.MemberID)
	}
	m.id = j.MemberID
	return m
}

// took checks a join's answer and takes its generation.
func (m *testMember) took(j *kmsg.JoinGroupResponse) *kmsg.JoinGroupResponse {
	m.t.Helper()
	if j.ErrorCode != 0 {
		m.t.Fatalf("join of %s: %v", m.id, kerr.ErrorForCode(j.ErrorCode))
	}
	m.gen = j.Generation
	return j
}

// syncLater sends a SyncGroup; assignments (member id -> bytes) makes it
// the leader's.
func (m *testMember) syncLater(assignments map[string]string) <-chan *kmsg.SyncGroupResponse {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version, req.Group, req.MemberID, req.Generation = 5, m.group, m.id, m.gen
	for id, a := range assignments {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = id, []byte(a)
		req.GroupAssignment = append(req.GroupAssignment, ga)
	}
	return answerLater[*kmsg.SyncGroupResponse](func(respond func(kmsg.Response)) kmsg.Response {
		return m.c.Sync(req, respond)
	})
}

func (m *testMember) heartbeat() *kerr.Error {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.Generation = 4, m.group, m.id, m.gen
	return m.c.Heartbeat(req)
}

// stableAlone makes a new member the only one of a new Stable group, with
// assignment a.
func stableAlone(t testing.TB, c *Coordinator, group, a string) *testMember {
	t.Helper()
	m := newMember(t, c, group)
	m.took(await(t, m.joinLater(10000)))
	if s := await(t, m.syncLater(map[string]string{m.id: a})); s.ErrorCode != 0 || string(s.MemberAssignment) != a {
		t.Fatalf("sync: %v assignment %q", kerr.ErrorForCode(s.ErrorCode), s.MemberAssignment)
	}
	return m
}

// commitLater commits offset to partition p of topic t for group (a simple
// commit when m is nil).
func commitLater(c *Coordinator, group string, m *testMember, p int32, offset int64) <-chan *kmsg.OffsetCommitResponse {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group, req.Generation = 9, group, -1
	if m != nil {
		req.MemberID, req.Generation = m.id, m.gen
	}
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = p, offset, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return answerLater[*kmsg.OffsetCommitResponse](func(respond func(kmsg.Response)) kmsg.Response {
		return c.Commit(req, respond)
	})
}

// commit commits and checks the answer has no error.
func commit(t testing.TB, c *Coordinator, group string, m *testMember, p int32, offset int64) {
	t.Helper()
	r := await(t, commitLater(c, group, m, p, offset))
	if code := r.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("commit %s t[%d]=%d: %v", group, p, offset, kerr.ErrorForCode(code))
	}
}

// committed returns group's committed offsets of topic t by partition.
func committed(t testing.TB, c *Coordinator, group string) map[int32]int64 {
	t.Helper()
	ts, err := c.FetchOffsets(group, nil, true)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	out := map[int32]int64{}
	for _, rt := range ts {
		for _, rp := range rt.Partitions {
			out[rp.Partition] = rp.Offset
		}
	}
	return out
}

// offsetDeleteLater deletes group's offset of partition p of topic t.
func offsetDeleteLater(c *Coordinator, group string, p int32) <-chan *kmsg.OffsetDeleteResponse {
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = group
	rt := kmsg.NewOffsetDeleteRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetDeleteRequestTopicPartition()
	rp.Partition = p
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return answerLater[*kmsg.OffsetDeleteResponse](func(respond func(kmsg.Response)) kmsg.Response {
		return c.DeleteOffsets(req, respond)
	})
}
