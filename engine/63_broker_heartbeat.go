package engine

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BrokerHeartbeat: v0-1
//
// Behaviour (KIP-631, as Chronik's controller uses it; see raftmeta's
// liveness.go):
//   - Brokers of a cluster send it to the controller (the metadata shard
//     leader) on its replication listener every broker.heartbeat.interval.ms;
//     the controller records it in memory (no Raft entry) and answers
//     IsFenced and, when WantShutDown asked for a controlled shutdown,
//     ShouldShutDown once the broker leads no partition.
//   - On a broker that is not the controller: NOT_CONTROLLER (the sender
//     looks the controller up again); a stale broker epoch:
//     STALE_BROKER_EPOCH (the sender registers again); standalone:
//     UNSUPPORTED_VERSION's cousin, INVALID_REQUEST (there is no controller
//     to heartbeat).
//   - The connection a heartbeat came on is remembered: when it closes
//     without a new heartbeat within one interval, the broker is fenced at
//     once (ConnClosed), long before its session times out.
//
// Version notes: v1 OfflineLogDirs: a broker whose disk failed names its
// log dir there, and the controller moves its leaderships away at once
// (raftmeta/liveness.go, engine/storage.go).

func init() { regKey(63, 0, 1, handleBrokerHeartbeat) }

func handleBrokerHeartbeat(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.BrokerHeartbeatRequest)
	rc, ok := b.cluster().(*raftCluster)
	if !ok {
		resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	return rc.node.HandleHeartbeat(c.req.ConnID, req), nil
}

// ConnClosed tells the broker a client connection is gone (netio calls it
// once per connection, after its last request was handled). A closed
// heartbeat connection lets the controller fence its broker at once.
func (b *Broker) ConnClosed(connID uint64) {
	if rc, ok := b.cluster().(*raftCluster); ok {
		rc.node.HeartbeatConnClosed(connID)
	}
}
