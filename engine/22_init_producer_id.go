package engine

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerID: v0-5
//
// Behaviour:
//   - Without a transactional id (idempotent producers) every call gets a
//     fresh producer id at epoch 0, as Kafka does; ids are reserved in
//     blocks, so no id is handed out twice, even across a crash: standalone
//     persisted in meta.json, in a cluster allocated through the metadata
//     shard (KIP-730), unique across brokers.
//   - A transactional id is refused with INVALID_REQUEST (non-retriable):
//     transactions are not supported and their APIs are not advertised.
//
// Version notes: v1 throttle; v2 flexible; v3 ProducerID/Epoch for bumps
// (KIP-360; ignored without transactional id, as Kafka does); v4-5 no
// change that matters here.

func init() { regKey(22, 0, 5, handleInitProducerID) }

func handleInitProducerID(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	id, err := b.allocProducerID()
	if err != nil {
		b.log.Error("allocate producer id", "err", err)
		resp.ErrorCode = kerr.KafkaStorageError.Code
		if b.clustered() {
			resp.ErrorCode = kafkaCode(err).Code // a metadata commit that did not happen: retriable
		}
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}
