package engine

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeConfigs: v0-4
//
// Behaviour:
//   - TOPIC (2): every topic config Chronik honours (topicConfigDefs) with
//     its effective value and source: DYNAMIC_TOPIC_CONFIG for an override,
//     else the source of the broker synonym (DYNAMIC_DEFAULT_BROKER_CONFIG,
//     STATIC_BROKER_CONFIG, DEFAULT_CONFIG). Unknown topic
//     UNKNOWN_TOPIC_OR_PARTITION; an invalid name INVALID_TOPIC_EXCEPTION.
//   - BROKER (4): resource name "" or this node id; every key of
//     BrokerConfigKeys() (default.replication.factor, min.insync.replicas,
//     num.partitions, ...) with its effective value. Kafka answers "" with
//     the cluster-default layer only; Chronik, being the whole cluster,
//     answers the full set for both. ReadOnly unless the key is dynamic
//     (dynamicBrokerKeys). Another id or a non-numeric name INVALID_REQUEST.
//   - BROKER_LOGGER (8) and other types: INVALID_REQUEST (no loggers to
//     describe).
//   - ConfigNames filters (null = all; unknown names are left out).
//   - IsDefault (v0) = source DEFAULT_CONFIG; IsSensitive false; synonyms
//     (v1+, IncludeSynonyms) most precedent first, the entry's own layer
//     included; config type (v3+); documentation null.
//
// Version notes: v1 synonyms, source; v2 throttle; v3 type, documentation;
// v4 flexible.

func init() { regKey(32, 0, 4, handleDescribeConfigs) }

func handleDescribeConfigs(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		fail := func(e *kerr.Error, msg string) {
			sr.ErrorCode = e.Code
			sr.ErrorMessage = strp(msg)
		}
		var syns map[string][]configSynonym
		var order []string
		readOnly := func(string) bool { return false }
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t := b.topics[rr.ResourceName]
			switch {
			case t != nil:
			case !validTopicName(rr.ResourceName):
				fail(kerr.InvalidTopicException, "invalid topic name")
			default:
				fail(kerr.UnknownTopicOrPartition, "unknown topic "+rr.ResourceName)
			}
			if t != nil {
				syns = map[string][]configSynonym{}
				for _, d := range topicConfigDefs {
					order = append(order, d.name)
					syns[d.name] = b.topicSynonyms(t, d.name)
				}
			}
		case kmsg.ConfigResourceTypeBroker:
			if !b.brokerResourceOK(rr.ResourceName) {
				fail(kerr.InvalidRequest, "unexpected broker id, expected "+b.nodeIDString()+" or empty string")
				break
			}
			syns = map[string][]configSynonym{}
			for _, k := range BrokerConfigKeys() {
				order = append(order, k)
				syns[k] = b.brokerSynonyms(k)
			}
			readOnly = func(k string) bool { return !dynamicBrokerKeys[k] }
		default:
			fail(kerr.InvalidRequest, "unsupported resource type")
		}
		var want map[string]bool
		if rr.ConfigNames != nil {
			want = map[string]bool{}
			for _, n := range rr.ConfigNames {
				want[n] = true
			}
		}
		for _, name := range order {
			if want != nil && !want[name] {
				continue
			}
			sr.Configs = append(sr.Configs, describeEntry(req, name, syns[name], readOnly(name)))
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

func describeEntry(req *kmsg.DescribeConfigsRequest, name string, syns []configSynonym, readOnly bool) kmsg.DescribeConfigsResponseResourceConfig {
	top := syns[0]
	rc := kmsg.NewDescribeConfigsResponseResourceConfig()
	rc.Name = name
	rc.Value = strp(top.value)
	rc.Source = top.source
	rc.IsDefault = top.source == kmsg.ConfigSourceDefaultConfig
	rc.ReadOnly = readOnly
	rc.ConfigType = configType(name, top.value)
	if req.IncludeSynonyms {
		rc.ConfigSynonyms = []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{}
		for _, s := range syns {
			sy := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			sy.Name, sy.Value, sy.Source = s.name, strp(s.value), s.source
			rc.ConfigSynonyms = append(rc.ConfigSynonyms, sy)
		}
	}
	return rc
}
