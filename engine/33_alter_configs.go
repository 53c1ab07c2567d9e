package engine

import (
	"context"
	"maps"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterConfigs: v0-2
//
// Behaviour (the legacy, non-incremental API: the request's configs replace
// the resource's whole override set; keys left out return to their
// defaults):
//   - TOPIC (2): each key must be a topic config Chronik honours with a valid
//     value (validateTopicConfig), else INVALID_CONFIG; a null value or a key
//     twice INVALID_REQUEST; unknown topic UNKNOWN_TOPIC_OR_PARTITION. The new
//     set goes through b.cluster(): standalone it is persisted in meta.json
//     and pushed to the open partition logs; in a cluster it is committed
//     through the metadata controller (REQUEST_TIMED_OUT without a commit
//     in time) and every broker applies it to its copy of the topic.
//     __consumer_offsets may be altered, as in Kafka.
//   - BROKER (4): resource "" or this node id (else INVALID_REQUEST); only
//     the keys in dynamicBrokerKeys may be set, anything else (read-only or
//     unknown) or a bad value INVALID_REQUEST, as Kafka answers for a config
//     that cannot be updated dynamically. Replaces the dynamic layer, which
//     topics without an override follow at once. The layer is this
//     broker's own in a cluster too, as Kafka's per-broker dynamic configs
//     are.
//   - A resource named twice in one request: INVALID_REQUEST for it.
//   - Other resource types INVALID_REQUEST.
//   - ValidateOnly runs every check and changes nothing.
//
// Version notes: v1 throttle; v2 flexible.

func init() { regKey(33, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	dups := duplicateResources(len(req.Resources), func(i int) resourceKey {
		return resourceKey{req.Resources[i].ResourceType, req.Resources[i].ResourceName}
	})
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		e, msg := kerr.InvalidRequest, "duplicate resource in request"
		if !dups[resourceKey{rr.ResourceType, rr.ResourceName}] {
			e, msg = b.alterConfigs(rr, req.ValidateOnly)
		}
		sr.ErrorCode, sr.ErrorMessage = resourceOutcome(e, msg)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

func (b *Broker) alterConfigs(rr kmsg.AlterConfigsRequestResource, validateOnly bool) (*kerr.Error, string) {
	cfgs := make(map[string]string, len(rr.Configs))
	for _, rc := range rr.Configs {
		if _, dup := cfgs[rc.Name]; dup {
			return kerr.InvalidRequest, "duplicate config key " + rc.Name
		}
		if rc.Value == nil {
			return kerr.InvalidRequest, "null value not supported for " + rc.Name
		}
		cfgs[rc.Name] = *rc.Value
	}
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		return b.alterTopicConfigs(rr.ResourceName, validateOnly, func(t *topic) (map[string]string, error) {
			return cfgs, validateChangedTopicConfigs(t, cfgs)
		})
	case kmsg.ConfigResourceTypeBroker:
		b.adminMu.Lock() // b.dynamic changes only under it: read it freely here
		defer b.adminMu.Unlock()
		if !b.brokerResourceOK(rr.ResourceName) {
			return kerr.InvalidRequest, "unexpected broker id, expected " + b.nodeIDString() + " or empty string"
		}
		for k, v := range cfgs {
			if e, msg := b.validateBrokerDynamic(k, v); e != nil {
				return e, msg
			}
		}
		if validateOnly {
			return nil, ""
		}
		return b.setDynamicBrokerConfigs(maps.Clone(cfgs)), ""
	default:
		return kerr.InvalidRequest, "unsupported resource type"
	}
}

// alterTopicConfigs replaces a topic's overrides with what compute returns,
// through b.cluster().
func (b *Broker) alterTopicConfigs(name string, validateOnly bool, compute func(*topic) (map[string]string, error)) (*kerr.Error, string) {
	ctx, cancel := context.WithTimeout(context.Background(), clusterCommitTimeout)
	defer cancel()
	return errorAndMessage(b.cluster().AlterTopicConfigs(ctx, name, compute, validateOnly))
}

// alterableTopic resolves a TOPIC resource for AlterConfigs and
// IncrementalAlterConfigs. Caller holds b.mu.
func (b *Broker) alterableTopic(name string) (*topic, error) {
	if t := b.topics[name]; t != nil {
		return t, nil
	}
	if !validTopicName(name) {
		return nil, errWithMessage(kerr.InvalidTopicException, "invalid topic name")
	}
	return nil, errWithMessage(kerr.UnknownTopicOrPartition, "unknown topic %s", name)
}
