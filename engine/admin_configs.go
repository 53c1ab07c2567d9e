package engine

import (
	"github.com/chronik/chronik/engine/partition"
	"strconv"
	"strings"

	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Shared by DescribeConfigs, AlterConfigs and IncrementalAlterConfigs.
//
// Broker configs come in two layers: the static Config (properties file /
// flags) and the dynamic map b.dynamic, set through AlterConfigs on the
// BROKER resource and persisted in meta.json. A standalone broker is the
// whole cluster, so the dynamic layer is reported as cluster-wide
// (DYNAMIC_DEFAULT_BROKER_CONFIG) whether it was set on "" or on this node
// id. Topic configs are the topic's overrides over the effective broker
// value of their synonym (topicConfigDefs).

// dynamicBrokerKeys are the broker configs AlterConfigs may change: each one
// is read through brokerConfig on every use (produce reads message.max.bytes
// and log.message.timestamp.type per request; wal options are pushed to the
// open logs), so a change takes effect at once. Every other broker key is
// read-only, as num.partitions, default.replication.factor and friends are
// in Kafka.
var dynamicBrokerKeys = map[string]bool{
	"log.cleanup.policy":         true,
	"log.message.timestamp.type": true,
	"log.retention.bytes":        true,
	"log.retention.ms":           true,
	"log.roll.ms":                true,
	"log.segment.bytes":          true,
	"message.max.bytes":          true,
	"min.insync.replicas":        true,
}

// configTypes gives the Kafka config type (DescribeConfigs v3+) of the keys
// Chronik knows; others are inferred from the value.
var configTypes = map[string]kmsg.ConfigType{
	// topic
	"cleanup.policy":         kmsg.ConfigTypeList,
	"max.message.bytes":      kmsg.ConfigTypeInt,
	"message.timestamp.type": kmsg.ConfigTypeString,
	"min.insync.replicas":    kmsg.ConfigTypeInt,
	"retention.bytes":        kmsg.ConfigTypeLong,
	"retention.ms":           kmsg.ConfigTypeLong,
	"segment.bytes":          kmsg.ConfigTypeInt,
	"segment.ms":             kmsg.ConfigTypeLong,
	// broker
	"advertised.listeners":             kmsg.ConfigTypeString,
	"auto.create.topics.enable":        kmsg.ConfigTypeBoolean,
	"broker.id":                        kmsg.ConfigTypeInt,
	"connections.max.idle.ms":          kmsg.ConfigTypeLong,
	"default.replication.factor":       kmsg.ConfigTypeInt,
	"flush.policy":                     kmsg.ConfigTypeString,
	"group.initial.rebalance.delay.ms": kmsg.ConfigTypeInt,
	"listeners":                        kmsg.ConfigTypeString,
	"log.cleanup.policy":               kmsg.ConfigTypeList,
	"log.dirs":                         kmsg.ConfigTypeString,
	"log.flush.interval.ms":            kmsg.ConfigTypeLong,
	"log.index.interval.bytes":         kmsg.ConfigTypeInt,
	"log.message.timestamp.type":       kmsg.ConfigTypeString,
	"log.retention.bytes":              kmsg.ConfigTypeLong,
	"log.retention.check.interval.ms":  kmsg.ConfigTypeLong,
	"log.retention.ms":                 kmsg.ConfigTypeLong,
	"log.roll.ms":                      kmsg.ConfigTypeLong,
	"log.segment.bytes":                kmsg.ConfigTypeInt,
	"message.max.bytes":                kmsg.ConfigTypeInt,
	"node.id":                          kmsg.ConfigTypeInt,
	"num.partitions":                   kmsg.ConfigTypeInt,
	"queued.max.request.bytes":         kmsg.ConfigTypeLong,
	"queued.max.requests":              kmsg.ConfigTypeInt,
	"socket.request.max.bytes":         kmsg.ConfigTypeInt,
}

func configType(name, value string) kmsg.ConfigType {
	if t, ok := configTypes[name]; ok {
		return t
	}
	if _, err := strconv.ParseBool(value); err == nil {
		return kmsg.ConfigTypeBoolean
	}
	if _, err := strconv.ParseInt(value, 10, 64); err == nil {
		return kmsg.ConfigTypeLong
	}
	return kmsg.ConfigTypeString
}

func isListConfig(name string) bool { return configTypes[name] == kmsg.ConfigTypeList }

// configSynonym is one layer a config value may come from, most precedent
// first.
type configSynonym struct {
	name   string
	value  string
	source kmsg.ConfigSource
}

// brokerSynonyms lists the layers of a broker key: dynamic, static (when the
// configured value differs from Chronik's default), default. Caller holds
// b.mu (read).
func (b *Broker) brokerSynonyms(key string) []configSynonym {
	var out []configSynonym
	if v, ok := b.dynamic[key]; ok {
		out = append(out, configSynonym{key, v, kmsg.ConfigSourceDynamicDefaultBrokerConfig})
	}
	def := DefaultConfig()
	dv, _ := def.Get(key)
	if sv, ok := b.cfg.Get(key); ok && sv != dv {
		out = append(out, configSynonym{key, sv, kmsg.ConfigSourceStaticBrokerConfig})
	}
	return append(out, configSynonym{key, dv, kmsg.ConfigSourceDefaultConfig})
}

// topicSynonyms lists the layers of a topic config: the topic override, then
// the synonym broker key's layers. Caller holds b.mu (read).
func (b *Broker) topicSynonyms(t *topic, name string) []configSynonym {
	var out []configSynonym
	if v, ok := t.configs[name]; ok {
		out = append(out, configSynonym{name, v, kmsg.ConfigSourceDynamicTopicConfig})
	}
	bk, _ := topicConfigDef(name)
	return append(out, b.brokerSynonyms(bk)...)
}

// validateBrokerDynamic checks that key may be changed at runtime and that
// value is acceptable, both as a broker value (Config.Validate's bounds) and
// as the default of its topic synonym. Kafka answers INVALID_REQUEST for
// both a non-dynamic key and a bad broker value.
func (b *Broker) validateBrokerDynamic(key, value string) (*kerr.Error, string) {
	if _, known := brokerKeys[key]; !known {
		return kerr.InvalidRequest, "unknown broker config " + key
	}
	if !dynamicBrokerKeys[key] {
		return kerr.InvalidRequest, "cannot update these configs dynamically: " + key
	}
	cfg := b.cfg
	if err := cfg.Set(key, value); err != nil {
		return kerr.InvalidRequest, err.Error()
	}
	if err := cfg.Validate(); err != nil {
		return kerr.InvalidRequest, err.Error()
	}
	for _, d := range topicConfigDefs {
		if d.brokerKey == key {
			if e := validateTopicConfig(d.name, value); e != nil {
				return kerr.InvalidRequest, "invalid value " + strconv.Quote(value) + " for " + key
			}
		}
	}
	return nil, ""
}

// brokerResourceOK reports whether a BROKER resource name addresses this
// broker: "" (cluster default) or this node id.
func (b *Broker) brokerResourceOK(name string) bool {
	if name == "" {
		return true
	}
	id, err := strconv.ParseInt(name, 10, 32)
	return err == nil && int32(id) == b.cfg.NodeID
}

// refreshLogOptions pushes the current effective options to every open
// partition log of ts (every topic when ts is empty), after a topic or
// broker config change. Caller holds b.adminMu, not b.mu.
func (b *Broker) refreshLogOptions(ts ...*topic) {
	type update struct {
		ps   []*partition.Partition
		opts wal.Options
	}
	var ups []update
	b.mu.RLock()
	if len(ts) == 0 {
		for _, t := range b.topics {
			ts = append(ts, t)
		}
	}
	for _, t := range ts {
		ups = append(ups, update{t.partitions, b.walOptions(t)})
	}
	b.mu.RUnlock()
	for _, u := range ups {
		for _, p := range u.ps {
			if p != nil {
				p.Log().SetOptions(u.opts)
			}
		}
	}
}

// setTopicConfigs replaces t's overrides with cfgs, persisting them before
// they take effect. Caller holds b.adminMu.
func (b *Broker) setTopicConfigs(t *topic, cfgs map[string]string) *kerr.Error {
	if err := b.saveMeta(func(m *metaFile) { m.putTopicConfigs(t, cfgs) }); err != nil {
		b.log.Error("save topic configs failed", "topic", t.name, "err", err)
		return kerr.KafkaStorageError
	}
	b.mu.Lock()
	t.configs = cfgs
	b.mu.Unlock()
	b.refreshLogOptions(t)
	b.log.Info("topic configs changed", "topic", t.name, "configs", cfgs)
	return nil
}

// setDynamicBrokerConfigs replaces the dynamic broker layer, persisting it
// before it takes effect on every topic. Caller holds b.adminMu.
func (b *Broker) setDynamicBrokerConfigs(cfgs map[string]string) *kerr.Error {
	if err := b.saveMeta(func(m *metaFile) { m.BrokerConfigs = cfgs }); err != nil {
		b.log.Error("save broker configs failed", "err", err)
		return kerr.KafkaStorageError
	}
	b.mu.Lock()
	b.dynamic = cfgs
	b.mu.Unlock()
	b.refreshLogOptions()
	b.log.Info("dynamic broker configs changed", "configs", cfgs)
	return nil
}

// listAppend and listSubtract implement IncrementalAlterConfigs APPEND and
// SUBTRACT on comma-separated list values.
func listAppend(cur string, add string) string {
	items := splitList(cur)
	for _, a := range splitList(add) {
		if !containsStr(items, a) {
			items = append(items, a)
		}
	}
	return strings.Join(items, ",")
}

func listSubtract(cur string, sub string) string {
	drop := splitList(sub)
	var items []string
	for _, it := range splitList(cur) {
		if !containsStr(drop, it) {
			items = append(items, it)
		}
	}
	return strings.Join(items, ",")
}

func splitList(s string) []string {
	var out []string
	for _, it := range strings.Split(s, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// resourceKey identifies a config resource, to find duplicates in a request.
type resourceKey struct {
	typ  kmsg.ConfigResourceType
	name string
}

// duplicateResources returns the resources named more than once; Kafka
// answers each of them INVALID_REQUEST.
func duplicateResources(n int, at func(i int) resourceKey) map[resourceKey]bool {
	seen := make(map[resourceKey]int, n)
	for i := 0; i < n; i++ {
		seen[at(i)]++
	}
	dups := map[resourceKey]bool{}
	for k, c := range seen {
		if c > 1 {
			dups[k] = true
		}
	}
	return dups
}

func (b *Broker) nodeIDString() string { return strconv.Itoa(int(b.cfg.NodeID)) }

// resourceOutcome is a config resource's error code and message: 0 and nil
// for success, else the code with msg (Kafka's own message when msg is "").
func resourceOutcome(e *kerr.Error, msg string) (int16, *string) {
	if e == nil {
		return 0, nil
	}
	if msg == "" {
		msg = e.Message
	}
	return e.Code, strp(msg)
}
