package engine

import (
	"maps"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// IncrementalAlterConfigs: v0-1
//
// Behaviour: each op applies to a copy of the resource's current override
// set (topic overrides, or the dynamic broker layer), which is validated and
// then persisted (meta.json) and applied live, or dropped with ValidateOnly.
//   - SET (0) a value; DELETE (1) a key (the config returns to its
//     default; deleting a key that is not set is a no-op); APPEND (2) /
//     SUBTRACT (3) add or remove comma-separated items of a list config
//     (cleanup.policy, log.cleanup.policy) and answer INVALID_REQUEST for
//     any other config, as Kafka does. Any other op INVALID_REQUEST.
//   - A key twice in one resource, or a resource twice in one request,
//     INVALID_REQUEST.
//   - TOPIC (2): unknown keys and bad values INVALID_CONFIG; a null SET
//     value INVALID_CONFIG; unknown topic UNKNOWN_TOPIC_OR_PARTITION. The
//     ops apply to the topic as this broker has it; the result goes through
//     b.cluster() (standalone: meta.json and the open logs; in a cluster a
//     commit through the metadata controller that every broker applies).
//     __consumer_offsets may be altered, as in Kafka.
//   - BROKER resources stay this broker's own in a cluster, as Kafka's
//     per-broker dynamic configs are.
//   - BROKER (4): "" or this node id; only dynamicBrokerKeys may be set or
//     deleted; a read-only or unknown key or a bad value INVALID_REQUEST
//     (Kafka: "Cannot update these configs dynamically").
//   - Other resource types INVALID_REQUEST.
//
// Version notes: v1 flexible.

func init() { regKey(44, 0, 1, handleIncrementalAlterConfigs) }

func handleIncrementalAlterConfigs(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	dups := duplicateResources(len(req.Resources), func(i int) resourceKey {
		return resourceKey{req.Resources[i].ResourceType, req.Resources[i].ResourceName}
	})
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		e, msg := kerr.InvalidRequest, "duplicate resource in request"
		if !dups[resourceKey{rr.ResourceType, rr.ResourceName}] {
			e, msg = b.incrementalAlterConfigs(rr, req.ValidateOnly)
		}
		sr.ErrorCode, sr.ErrorMessage = resourceOutcome(e, msg)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

func (b *Broker) incrementalAlterConfigs(rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) (*kerr.Error, string) {
	seen := map[string]bool{}
	for _, rc := range rr.Configs {
		if seen[rc.Name] {
			return kerr.InvalidRequest, "duplicate config key " + rc.Name
		}
		seen[rc.Name] = true
	}
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		return b.alterTopicConfigs(rr.ResourceName, validateOnly, func(t *topic) (map[string]string, error) {
			return b.applyTopicConfigOps(t, rr.Configs)
		})
	case kmsg.ConfigResourceTypeBroker:
		b.adminMu.Lock() // b.dynamic changes only under it: read it freely here
		defer b.adminMu.Unlock()
		if !b.brokerResourceOK(rr.ResourceName) {
			return kerr.InvalidRequest, "unexpected broker id, expected " + b.nodeIDString() + " or empty string"
		}
		cfgs := maps.Clone(b.dynamic)
		if cfgs == nil {
			cfgs = map[string]string{}
		}
		for _, rc := range rr.Configs {
			if !dynamicBrokerKeys[rc.Name] {
				if _, known := brokerKeys[rc.Name]; !known {
					return kerr.InvalidRequest, "unknown broker config " + rc.Name
				}
				return kerr.InvalidRequest, "cannot update these configs dynamically: " + rc.Name
			}
			if e, msg := applyConfigOp(cfgs, rc, b.brokerConfig(rc.Name), kerr.InvalidRequest); e != nil {
				return e, msg
			}
		}
		for _, rc := range rr.Configs {
			if v, ok := cfgs[rc.Name]; ok {
				if e, msg := b.validateBrokerDynamic(rc.Name, v); e != nil {
					return e, msg
				}
			}
		}
		if validateOnly {
			return nil, ""
		}
		return b.setDynamicBrokerConfigs(cfgs), ""
	default:
		return kerr.InvalidRequest, "unsupported resource type"
	}
}

// applyTopicConfigOps applies ops to a copy of t's overrides and validates
// the result. Caller holds b.mu.
func (b *Broker) applyTopicConfigOps(t *topic, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) (map[string]string, error) {
	cfgs := maps.Clone(t.configs)
	if cfgs == nil {
		cfgs = map[string]string{}
	}
	for _, rc := range ops {
		if _, known := topicConfigDef(rc.Name); !known && rc.Op != kmsg.IncrementalAlterConfigOpDelete {
			return nil, errWithMessage(kerr.InvalidConfig, "unknown topic config %s", rc.Name)
		}
		cur, _ := b.topicConfig(t, rc.Name)
		if e, msg := applyConfigOp(cfgs, rc, cur, kerr.InvalidConfig); e != nil {
			return nil, errWithMessage(e, "%s", msg)
		}
	}
	if err := validateChangedTopicConfigs(t, cfgs); err != nil {
		return nil, err
	}
	return cfgs, nil
}

// validateChangedTopicConfigs validates the overrides of cfgs that t does
// not already have with the same value (those were valid when set, and
// __consumer_offsets carries a cleanup.policy users may not set).
func validateChangedTopicConfigs(t *topic, cfgs map[string]string) error {
	for k, v := range cfgs {
		if old, ok := t.configs[k]; ok && old == v {
			continue
		}
		if e := validateTopicConfig(k, v); e != nil {
			return errWithMessage(e, "invalid topic config %s=%s", k, v)
		}
	}
	return nil
}

// applyConfigOp applies one op to cfgs; cur is the config's effective value
// (the base for APPEND and SUBTRACT). nullErr answers a null SET value.
func applyConfigOp(cfgs map[string]string, rc kmsg.IncrementalAlterConfigsRequestResourceConfig, cur string, nullErr *kerr.Error) (*kerr.Error, string) {
	switch rc.Op {
	case kmsg.IncrementalAlterConfigOpSet:
		if rc.Value == nil {
			return nullErr, "null value not supported for " + rc.Name
		}
		cfgs[rc.Name] = *rc.Value
	case kmsg.IncrementalAlterConfigOpDelete:
		delete(cfgs, rc.Name)
	case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
		if !isListConfig(rc.Name) {
			return kerr.InvalidRequest, "config value append/subtract is not allowed for config key " + rc.Name
		}
		var v string
		if rc.Value != nil {
			v = *rc.Value
		}
		if rc.Op == kmsg.IncrementalAlterConfigOpAppend {
			cfgs[rc.Name] = listAppend(cur, v)
		} else {
			cfgs[rc.Name] = listSubtract(cur, v)
		}
	default:
		return kerr.InvalidRequest, "unknown config op"
	}
	return nil, ""
}
