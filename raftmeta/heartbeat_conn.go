package raftmeta

import (
	"context"
	"strconv"
	"time"

	"github.com/chronik/chronik/internal/kwire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kwireHeartbeat sends BrokerHeartbeat requests over one Kafka connection.
type kwireHeartbeat struct{ c *kwire.Conn }

// dialHeartbeat is the default HeartbeatDial: a Kafka connection to the
// controller's replication listener.
func dialHeartbeat(ctx context.Context, addr string, self int32) (HeartbeatConn, error) {
	c, err := kwire.Dial(ctx, addr, time.Second, "chronik-broker-"+strconv.Itoa(int(self)))
	if err != nil {
		return nil, err
	}
	return kwireHeartbeat{c}, nil
}

func (k kwireHeartbeat) Heartbeat(ctx context.Context, req *kmsg.BrokerHeartbeatRequest) (*kmsg.BrokerHeartbeatResponse, error) {
	resp := kmsg.NewPtrBrokerHeartbeatResponse()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Second)
	}
	if _, err := k.c.RoundTrip(ctx, req, resp, deadline); err != nil {
		return nil, err
	}
	return resp, nil
}

func (k kwireHeartbeat) Close() { k.c.Close() }
