package engine

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster: v0-1
//
// Behaviour:
//   - From b.cluster(): standalone the cluster id from meta.json, this node
//     as the controller and the only broker, at its advertised listener,
//     rack null. In a cluster the id derived from the cluster config, every
//     live (unfenced) broker with its Kafka address and rack, and the
//     metadata shard's leader as the controller (-1 while there is none).
//   - v1 EndpointType: 1 (brokers) is served; any other type
//     UNSUPPORTED_ENDPOINT_TYPE (a broker is not a controller endpoint), the
//     response echoing the requested type.
//   - ClusterAuthorizedOperations: with no authorizer every cluster
//     operation is allowed, so when asked for it is the bit set of the
//     operations Kafka supports on the CLUSTER resource; when not asked,
//     -2147483648 ("not computed"), as Kafka.
//
// Version notes: v1 EndpointType.

func init() { regKey(60, 0, 1, handleDescribeCluster) }

// clusterOperations: CREATE(5) ALTER(7) DESCRIBE(8) CLUSTER_ACTION(9)
// DESCRIBE_CONFIGS(10) ALTER_CONFIGS(11) IDEMPOTENT_WRITE(12).
const clusterOperations int32 = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12

func handleDescribeCluster(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.ClusterAuthorizedOperations = -2147483648
	resp.EndpointType = 1
	if req.Version >= 1 {
		resp.EndpointType = req.EndpointType
		if req.EndpointType != 1 {
			resp.ErrorCode = kerr.UnsupportedEndpointType.Code
			resp.ErrorMessage = strp("the request was sent to an endpoint of type BROKER, but only BROKER endpoints are served")
			return resp, nil
		}
	}
	cl := b.cluster()
	resp.ClusterID = cl.ClusterID()
	brokers, controller := cl.Brokers()
	resp.ControllerID = controller
	for _, cb := range brokers {
		br := kmsg.NewDescribeClusterResponseBroker()
		br.NodeID, br.Host, br.Port, br.Rack = cb.ID, cb.Host, cb.Port, cb.Rack
		resp.Brokers = append(resp.Brokers, br)
	}
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterOperations
	}
	return resp, nil
}
