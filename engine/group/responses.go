package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// joinResponse is the JoinGroup answer for memberID in the current
// generation; the leader also gets every member's metadata.
func (g *group) joinResponse(version int16, memberID string, withMembers bool, leader string) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.SetVersion(version)
	resp.Generation = g.generation
	resp.ProtocolType = strp(g.protocolType)
	resp.Protocol = strp(g.protocol)
	resp.LeaderID = leader
	resp.MemberID = memberID
	if withMembers {
		for _, id := range g.sortedMemberIDs() {
			m := g.members[id]
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID, rm.InstanceID = m.id, m.instanceID
			rm.ProtocolMetadata = m.metadataFor(g.protocol)
			resp.Members = append(resp.Members, rm)
		}
	}
	return resp
}

// joinError is a JoinGroup answer carrying only an error.
func joinError(version int16, memberID string, err *kerr.Error) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.SetVersion(version)
	resp.ErrorCode = err.Code
	resp.MemberID = memberID
	resp.Generation = -1
	if version < 7 {
		resp.Protocol = strp("") // not nullable before v7
	}
	return resp
}

func syncResponse(version int16, err *kerr.Error) *kmsg.SyncGroupResponse {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.SetVersion(version)
	resp.ErrorCode = errCode(err)
	resp.MemberAssignment = []byte{}
	return resp
}
