package engine_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// ---- helpers ----

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newAdminClient returns a kgo client (closed at test end) and its kadm
// wrapper. With pin, key's version is capped at pin[1] (pin = {key, v}).
func newAdminClient(t *testing.T, addr string, opts ...kgo.Opt) (*kgo.Client, *kadm.Client) {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestRetries(2), kgo.RetryTimeout(5 * time.Second)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

// pinnedClient caps one API key's version.
func pinnedClient(t *testing.T, addr string, key int16, v int16) *kgo.Client {
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(key, v)
	cl, _ := newAdminClient(t, addr, kgo.MaxVersions(vs))
	return cl
}

// direct sends req to broker nodeID (-1: the one broker) itself, bypassing
// kgo's sharding and client-side answers, so the codes checked are the
// broker's.
func direct[R kmsg.Response](t *testing.T, cl *kgo.Client, nodeID int32, req kmsg.Request) R {
	t.Helper()
	ctx := testCtx(t)
	if _, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil { // learn the broker
		t.Fatalf("metadata: %v", err)
	}
	br := cl.Broker(int(nodeID))
	if nodeID < 0 {
		bs := cl.DiscoveredBrokers()
		if len(bs) != 1 {
			t.Fatalf("%d brokers discovered", len(bs))
		}
		br = bs[0]
	}
	resp, err := br.Request(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp.(R)
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	var wc int16
	if want != nil {
		wc = want.Code
	}
	if got != wc {
		t.Fatalf("%s: error code %d (%v), want %d (%v)", what, got, kerr.ErrorForCode(got), wc, want)
	}
}

func wantErr(t *testing.T, what string, err error, want *kerr.Error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func admCreateTopic(t *testing.T, adm *kadm.Client, name string, parts int32, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(testCtx(t), parts, 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

func produce(t *testing.T, cl *kgo.Client, topic string, partition int32, value []byte) error {
	t.Helper()
	r := &kgo.Record{Topic: topic, Partition: partition, Value: value}
	return cl.ProduceSync(testCtx(t), r).FirstErr()
}

// producer is a client that writes to explicit partitions without
// idempotence, so that a refused batch does not disturb later ones.
func producer(t *testing.T, addr string) *kgo.Client {
	cl, _ := newAdminClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	return cl
}

func describeTopic(t *testing.T, adm *kadm.Client, topic string) map[string]kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(testCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v %v", topic, err, rc.Err)
	}
	out := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		out[c.Key] = c
	}
	return out
}

func describeBroker(t *testing.T, adm *kadm.Client) map[string]kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeBrokerConfigs(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("describe broker: %+v", rcs)
	}
	out := map[string]kadm.Config{}
	for _, c := range rcs[0].Configs {
		out[c.Key] = c
	}
	return out
}

func cfgValue(c kadm.Config) string {
	if c.Value == nil {
		return "<nil>"
	}
	return *c.Value
}

func partitionDirs(t *testing.T, dir, topic string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, topic+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// metadataTopic asks the broker itself (kadm answers from kgo's metadata
// cache, which lags behind CreatePartitions and DeleteTopics).
func metadataTopic(t *testing.T, cl *kgo.Client, topic string) *kmsg.MetadataResponseTopic {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = sp(topic)
	req.Topics = append(req.Topics, rt)
	resp := direct[*kmsg.MetadataResponse](t, cl, -1, req)
	if len(resp.Topics) != 1 {
		t.Fatalf("metadata for %s: %d topics", topic, len(resp.Topics))
	}
	return &resp.Topics[0]
}

func topicIDOf(t *testing.T, cl *kgo.Client, topic string) [16]byte {
	t.Helper()
	mt := metadataTopic(t, cl, topic)
	if mt.ErrorCode != 0 {
		t.Fatalf("metadata %s: %v", topic, kerr.ErrorForCode(mt.ErrorCode))
	}
	return mt.TopicID
}

// partitionCount is the topic's partition count, -1 when it does not exist.
func partitionCount(t *testing.T, cl *kgo.Client, topic string) int {
	t.Helper()
	mt := metadataTopic(t, cl, topic)
	if mt.ErrorCode != 0 {
		return -1
	}
	return len(mt.Partitions)
}

func sp(s string) *string { return &s }

// ---- CreateTopics ----

func TestAdminCreateTopics(t *testing.T) {
	ab := startBroker(t, func(c *engine.Config) { c.NumPartitions = 3 })
	cl, adm := newAdminClient(t, ab.addr)

	admCreateTopic(t, adm, "valid", 2, nil)
	if n := partitionCount(t, cl, "valid"); n != 2 {
		t.Fatalf("valid has %d partitions, want 2", n)
	}
	if len(partitionDirs(t, ab.cfg.DataDir, "valid")) != 2 {
		t.Fatalf("partition dirs of valid: %v", partitionDirs(t, ab.cfg.DataDir, "valid"))
	}

	vr, err := adm.ValidateCreateTopics(testCtx(t), 4, 1, nil, "vonly")
	if err != nil || vr["vonly"].Err != nil {
		t.Fatalf("validate-only create: %v %v", err, vr["vonly"].Err)
	}
	if n := partitionCount(t, cl, "vonly"); n != -1 {
		t.Fatalf("validate-only created the topic (%d partitions)", n)
	}
	if d := partitionDirs(t, ab.cfg.DataDir, "vonly"); len(d) != 0 {
		t.Fatalf("validate-only left dirs %v", d)
	}

	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 5000
	add := func(name string, parts int32, rf int16) {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, parts, rf
		req.Topics = append(req.Topics, rt)
	}
	add("bad/name", 1, 1)
	add("rf3", 1, 3)
	add("p0", 0, 1)
	add("valid", 1, 1)
	add("defaults", -1, -1)
	resp := direct[*kmsg.CreateTopicsResponse](t, cl, 0, req)
	want := map[string]*kerr.Error{
		"bad/name": kerr.InvalidTopicException,
		"rf3":      kerr.InvalidReplicationFactor,
		"p0":       kerr.InvalidPartitions,
		"valid":    kerr.TopicAlreadyExists,
		"defaults": nil,
	}
	if len(resp.Topics) != len(want) {
		t.Fatalf("%d topics in response, want %d", len(resp.Topics), len(want))
	}
	for _, st := range resp.Topics {
		wantCode(t, "create "+st.Topic, st.ErrorCode, want[st.Topic])
	}
	if n := partitionCount(t, cl, "defaults"); n != 3 {
		t.Fatalf("-1/-1 topic has %d partitions, want num.partitions=3", n)
	}
	for _, name := range []string{"rf3", "p0"} {
		if n := partitionCount(t, cl, name); n != -1 {
			t.Fatalf("refused topic %s exists", name)
		}
	}
}

// ---- DeleteTopics ----

func TestAdminDeleteTopics(t *testing.T) {
	ab := startBroker(t)
	cl, adm := newAdminClient(t, ab.addr)
	for _, n := range []string{"byname", "byid", "keep"} {
		admCreateTopic(t, adm, n, 2, nil)
	}
	if err := produce(t, producer(t, ab.addr), "byname", 1, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if len(partitionDirs(t, ab.cfg.DataDir, "byname")) != 2 {
		t.Fatal("partition dirs missing before delete")
	}

	dr, err := adm.DeleteTopics(testCtx(t), "byname")
	if err != nil || dr["byname"].Err != nil {
		t.Fatalf("delete byname: %v %v", err, dr["byname"].Err)
	}
	if d := partitionDirs(t, ab.cfg.DataDir, "byname"); len(d) != 0 {
		t.Fatalf("dirs left after delete: %v", d)
	}
	if n := partitionCount(t, cl, "byname"); n != -1 {
		t.Fatal("deleted topic still listed")
	}

	id := topicIDOf(t, cl, "byid")
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 5000
	for _, e := range []struct {
		name *string
		id   [16]byte
	}{
		{nil, id},                              // by id
		{sp("nope"), [16]byte{}},               // unknown name
		{nil, [16]byte{1, 2, 3}},               // unknown id
		{sp("keep"), topicIDOf(t, cl, "keep")}, // both: INVALID_REQUEST
		{nil, [16]byte{}},                      // neither
	} {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic, rt.TopicID = e.name, e.id
		req.Topics = append(req.Topics, rt)
	}
	resp := direct[*kmsg.DeleteTopicsResponse](t, pinnedClient(t, ab.addr, 20, 6), 0, req)
	if len(resp.Topics) != 5 {
		t.Fatalf("%d topics in response, want 5", len(resp.Topics))
	}
	wantCode(t, "delete by id", resp.Topics[0].ErrorCode, nil)
	if resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != "byid" || resp.Topics[0].TopicID != id {
		t.Fatalf("delete by id answered %v %x", resp.Topics[0].Topic, resp.Topics[0].TopicID)
	}
	wantCode(t, "delete unknown name", resp.Topics[1].ErrorCode, kerr.UnknownTopicOrPartition)
	wantCode(t, "delete unknown id", resp.Topics[2].ErrorCode, kerr.UnknownTopicID)
	wantCode(t, "delete name+id", resp.Topics[3].ErrorCode, kerr.InvalidRequest)
	wantCode(t, "delete neither", resp.Topics[4].ErrorCode, kerr.InvalidRequest)
	if d := partitionDirs(t, ab.cfg.DataDir, "byid"); len(d) != 0 {
		t.Fatalf("dirs left after delete by id: %v", d)
	}
	if partitionCount(t, cl, "keep") != 2 {
		t.Fatal("topic named with both name and id was deleted")
	}

	// Every version: names only, unknown → UNKNOWN_TOPIC_OR_PARTITION.
	for v := int16(0); v <= 6; v++ {
		name := "v" + strconv.Itoa(int(v))
		admCreateTopic(t, adm, name, 1, nil)
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TimeoutMillis = 5000
		if v <= 5 {
			req.TopicNames = []string{name, "missing"}
		} else {
			for _, n := range []string{name, "missing"} {
				rt := kmsg.NewDeleteTopicsRequestTopic()
				rt.Topic = sp(n)
				req.Topics = append(req.Topics, rt)
			}
		}
		resp := direct[*kmsg.DeleteTopicsResponse](t, pinnedClient(t, ab.addr, 20, v), 0, req)
		if resp.Version != v || len(resp.Topics) != 2 {
			t.Fatalf("v%d: version %d, %d topics", v, resp.Version, len(resp.Topics))
		}
		wantCode(t, name, resp.Topics[0].ErrorCode, nil)
		wantCode(t, name+" missing", resp.Topics[1].ErrorCode, kerr.UnknownTopicOrPartition)
		if partitionCount(t, cl, name) != -1 || len(partitionDirs(t, ab.cfg.DataDir, name)) != 0 {
			t.Fatalf("v%d: topic not deleted", v)
		}
	}
}

// ---- CreatePartitions ----

func TestAdminCreatePartitions(t *testing.T) {
	ab := startBroker(t)
	cl, adm := newAdminClient(t, ab.addr)
	admCreateTopic(t, adm, "grow", 1, nil)

	vr, err := adm.ValidateUpdatePartitions(testCtx(t), 4, "grow")
	if err != nil || vr["grow"].Err != nil {
		t.Fatalf("validate-only: %v %v", err, vr["grow"].Err)
	}
	if n := partitionCount(t, cl, "grow"); n != 1 {
		t.Fatalf("validate-only grew the topic to %d", n)
	}

	r, err := adm.UpdatePartitions(testCtx(t), 3, "grow")
	if err != nil || r["grow"].Err != nil {
		t.Fatalf("grow: %v %v", err, r["grow"].Err)
	}
	if n := partitionCount(t, cl, "grow"); n != 3 {
		t.Fatalf("after grow: %d partitions, want 3", n)
	}
	if len(partitionDirs(t, ab.cfg.DataDir, "grow")) != 3 {
		t.Fatalf("dirs after grow: %v", partitionDirs(t, ab.cfg.DataDir, "grow"))
	}
	if err := produce(t, producer(t, ab.addr), "grow", 2, []byte("new partition")); err != nil {
		t.Fatalf("produce to new partition: %v", err)
	}

	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = 5000
	add := func(topic string, count int32, assign ...[]int32) {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = topic, count
		for _, a := range assign {
			ra := kmsg.NewCreatePartitionsRequestTopicAssignment()
			ra.Replicas = a
			rt.Assignment = append(rt.Assignment, ra)
		}
		req.Topics = append(req.Topics, rt)
	}
	admCreateTopic(t, adm, "assign", 1, nil)
	admCreateTopic(t, adm, "badassign", 1, nil)
	admCreateTopic(t, adm, "dup", 1, nil)
	add("grow", 2)                           // shrink
	add("grow", 3)                           // duplicate (and same count)
	add("missing", 2)                        // unknown
	add("assign", 3, []int32{0}, []int32{0}) // good assignment
	add("badassign", 2, []int32{7})          // other broker
	add("dup", 2)
	add("dup", 3)
	resp := direct[*kmsg.CreatePartitionsResponse](t, cl, 0, req)
	got := map[string]int16{}
	for _, st := range resp.Topics {
		if _, twice := got[st.Topic]; twice {
			t.Fatalf("topic %s answered twice", st.Topic)
		}
		got[st.Topic] = st.ErrorCode
	}
	if len(got) != 5 {
		t.Fatalf("response topics %v", got)
	}
	wantCode(t, "grow (dup)", got["grow"], kerr.InvalidRequest)
	wantCode(t, "missing", got["missing"], kerr.UnknownTopicOrPartition)
	wantCode(t, "assign", got["assign"], nil)
	wantCode(t, "badassign", got["badassign"], kerr.InvalidReplicaAssignment)
	wantCode(t, "dup", got["dup"], kerr.InvalidRequest)
	if n := partitionCount(t, cl, "assign"); n != 3 {
		t.Fatalf("assign has %d partitions", n)
	}
	if partitionCount(t, cl, "badassign") != 1 || partitionCount(t, cl, "dup") != 1 {
		t.Fatal("refused growth happened")
	}

	for _, tc := range []struct {
		count int32
		want  *kerr.Error
	}{{2, kerr.InvalidPartitions}, {3, kerr.InvalidPartitions}} {
		req := kmsg.NewPtrCreatePartitionsRequest()
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = "grow", tc.count
		req.Topics = append(req.Topics, rt)
		resp := direct[*kmsg.CreatePartitionsResponse](t, cl, 0, req)
		wantCode(t, "grow to "+strconv.Itoa(int(tc.count)), resp.Topics[0].ErrorCode, tc.want)
	}
	if n := partitionCount(t, cl, "grow"); n != 3 {
		t.Fatalf("shrink changed the topic to %d", n)
	}
}

// ---- DescribeConfigs ----

func TestAdminDescribeConfigs(t *testing.T) {
	ab := startBroker(t, func(c *engine.Config) {
		c.NodeID = 3
		c.RetentionMs = 3600000 // static, differs from the default
	})
	_, adm := newAdminClient(t, ab.addr)
	admCreateTopic(t, adm, "cfg", 1, map[string]*string{"max.message.bytes": sp("5000")})

	tc := describeTopic(t, adm, "cfg")
	for _, k := range []string{"cleanup.policy", "max.message.bytes", "message.timestamp.type", "min.insync.replicas", "retention.bytes", "retention.ms", "segment.bytes", "segment.ms"} {
		if _, ok := tc[k]; !ok {
			t.Fatalf("topic config %s missing: %v", k, tc)
		}
	}
	check := func(m map[string]kadm.Config, k, v string, src kmsg.ConfigSource) {
		t.Helper()
		c := m[k]
		if cfgValue(c) != v || c.Source != src {
			t.Fatalf("%s = %s (source %v), want %s (%v)", k, cfgValue(c), c.Source, v, src)
		}
	}
	check(tc, "max.message.bytes", "5000", kmsg.ConfigSourceDynamicTopicConfig)
	check(tc, "retention.ms", "3600000", kmsg.ConfigSourceStaticBrokerConfig)
	check(tc, "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)
	syn := tc["max.message.bytes"].Synonyms
	if len(syn) < 2 || syn[0].Source != kmsg.ConfigSourceDynamicTopicConfig || syn[len(syn)-1].Key != "message.max.bytes" || syn[len(syn)-1].Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("max.message.bytes synonyms %+v", syn)
	}

	bc := describeBroker(t, adm)
	for _, k := range engine.BrokerConfigKeys() {
		if _, ok := bc[k]; !ok {
			t.Fatalf("broker config %s missing", k)
		}
	}
	check(bc, "default.replication.factor", "1", kmsg.ConfigSourceDefaultConfig)
	check(bc, "min.insync.replicas", "1", kmsg.ConfigSourceDefaultConfig)
	check(bc, "num.partitions", "1", kmsg.ConfigSourceDefaultConfig)
	check(bc, "log.retention.ms", "3600000", kmsg.ConfigSourceStaticBrokerConfig)
	check(bc, "node.id", "3", kmsg.ConfigSourceStaticBrokerConfig)

	// Raw, at every version: resource by node id, a filter, unknown topic,
	// other broker id, broker loggers.
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.IncludeSynonyms = true
		add := func(typ kmsg.ConfigResourceType, name string, keys ...string) {
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName, rr.ConfigNames = typ, name, keys
			req.Resources = append(req.Resources, rr)
		}
		add(kmsg.ConfigResourceTypeBroker, "3", "min.insync.replicas", "default.replication.factor", "no.such.key")
		add(kmsg.ConfigResourceTypeTopic, "cfg", "max.message.bytes")
		add(kmsg.ConfigResourceTypeTopic, "missing")
		add(kmsg.ConfigResourceTypeBroker, "0")
		add(kmsg.ConfigResourceTypeBrokerLogger, "3")
		resp := direct[*kmsg.DescribeConfigsResponse](t, pinnedClient(t, ab.addr, 32, v), 3, req)
		if resp.Version != v || len(resp.Resources) != 5 {
			t.Fatalf("v%d: version %d, %d resources", v, resp.Version, len(resp.Resources))
		}
		r := resp.Resources
		wantCode(t, "broker 3", r[0].ErrorCode, nil)
		if len(r[0].Configs) != 2 {
			t.Fatalf("v%d: filtered broker configs %+v", v, r[0].Configs)
		}
		for _, c := range r[0].Configs {
			if c.Value == nil || *c.Value != "1" || c.ReadOnly != (c.Name == "default.replication.factor") {
				t.Fatalf("v%d: %s = %v read-only %v", v, c.Name, c.Value, c.ReadOnly)
			}
			if v == 0 && !c.IsDefault {
				t.Fatalf("v0: %s not IsDefault", c.Name)
			}
			if v >= 1 && (c.Source != kmsg.ConfigSourceDefaultConfig || len(c.ConfigSynonyms) != 1) {
				t.Fatalf("v%d: %s source %v synonyms %v", v, c.Name, c.Source, c.ConfigSynonyms)
			}
			if v >= 3 && c.ConfigType != kmsg.ConfigTypeInt {
				t.Fatalf("v%d: %s type %v", v, c.Name, c.ConfigType)
			}
		}
		wantCode(t, "topic cfg", r[1].ErrorCode, nil)
		if len(r[1].Configs) != 1 || *r[1].Configs[0].Value != "5000" || r[1].Configs[0].ReadOnly || r[1].Configs[0].IsSensitive {
			t.Fatalf("v%d: topic configs %+v", v, r[1].Configs)
		}
		wantCode(t, "missing topic", r[2].ErrorCode, kerr.UnknownTopicOrPartition)
		wantCode(t, "broker 0", r[3].ErrorCode, kerr.InvalidRequest)
		wantCode(t, "broker logger", r[4].ErrorCode, kerr.InvalidRequest)
	}
}

// ---- AlterConfigs / IncrementalAlterConfigs ----

func TestAdminIncrementalAlterTopicConfigs(t *testing.T) {
	ab := startBroker(t)
	cl, adm := newAdminClient(t, ab.addr)
	prod := producer(t, ab.addr)
	admCreateTopic(t, adm, "inc", 1, nil)
	big := bytes.Repeat([]byte("x"), 2000)
	if err := produce(t, prod, "inc", 0, big); err != nil {
		t.Fatalf("produce before alter: %v", err)
	}

	alter := func(validate bool, cs ...kadm.AlterConfig) error {
		t.Helper()
		var r kadm.AlterConfigsResponses
		var err error
		if validate {
			r, err = adm.ValidateAlterTopicConfigs(testCtx(t), cs, "inc")
		} else {
			r, err = adm.AlterTopicConfigs(testCtx(t), cs, "inc")
		}
		if err != nil {
			t.Fatal(err)
		}
		return r[0].Err
	}

	// Validate-only changes nothing.
	wantErr(t, "validate set", alter(true, kadm.AlterConfig{Name: "max.message.bytes", Value: sp("500")}), nil)
	if c := describeTopic(t, adm, "inc")["max.message.bytes"]; c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("validate-only changed max.message.bytes: %s %v", cfgValue(c), c.Source)
	}
	if err := produce(t, prod, "inc", 0, big); err != nil {
		t.Fatalf("produce after validate-only: %v", err)
	}

	// SET takes effect on produce.
	wantErr(t, "set", alter(false, kadm.AlterConfig{Name: "max.message.bytes", Value: sp("500")}), nil)
	if c := describeTopic(t, adm, "inc")["max.message.bytes"]; cfgValue(c) != "500" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("after set: %s %v", cfgValue(c), c.Source)
	}
	wantErr(t, "produce over max.message.bytes", produce(t, prod, "inc", 0, big), kerr.MessageTooLarge)
	if err := produce(t, prod, "inc", 0, []byte("small")); err != nil {
		t.Fatalf("small produce: %v", err)
	}

	// Bad keys, bad values, list ops on scalars: nothing changes.
	wantErr(t, "unknown key", alter(false, kadm.AlterConfig{Name: "no.such.config", Value: sp("1")}), kerr.InvalidConfig)
	wantErr(t, "bad value", alter(false, kadm.AlterConfig{Name: "retention.ms", Value: sp("soon")}), kerr.InvalidConfig)
	wantErr(t, "bad timestamp type", alter(false, kadm.AlterConfig{Name: "message.timestamp.type", Value: sp("Whenever")}), kerr.InvalidConfig)
	wantErr(t, "append scalar", alter(false, kadm.AlterConfig{Op: kadm.AppendConfig, Name: "max.message.bytes", Value: sp("1")}), kerr.InvalidRequest)
	wantErr(t, "mixed good and bad", alter(false,
		kadm.AlterConfig{Name: "retention.ms", Value: sp("1000")},
		kadm.AlterConfig{Name: "segment.bytes", Value: sp("-4")}), kerr.InvalidConfig)
	if c := describeTopic(t, adm, "inc")["retention.ms"]; c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("a refused request changed retention.ms: %s", cfgValue(c))
	}
	// APPEND on the list config cleanup.policy keeps "delete" once.
	wantErr(t, "append list", alter(false, kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: sp("delete")}), nil)
	if c := describeTopic(t, adm, "inc")["cleanup.policy"]; cfgValue(c) != "delete" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("cleanup.policy after append: %s %v", cfgValue(c), c.Source)
	}

	// Unknown topic; duplicate keys (raw).
	r, err := adm.AlterTopicConfigs(testCtx(t), []kadm.AlterConfig{{Name: "retention.ms", Value: sp("1")}}, "missing")
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "unknown topic", r[0].Err, kerr.UnknownTopicOrPartition)
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "inc"
	for _, v := range []string{"1000", "2000"} {
		rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		rc.Name, rc.Value = "retention.ms", sp(v)
		rr.Configs = append(rr.Configs, rc)
	}
	req.Resources = append(req.Resources, rr)
	resp := direct[*kmsg.IncrementalAlterConfigsResponse](t, cl, 0, req)
	wantCode(t, "duplicate key", resp.Resources[0].ErrorCode, kerr.InvalidRequest)

	// DELETE returns to the default: the big record goes through again.
	wantErr(t, "delete", alter(false, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "max.message.bytes"}), nil)
	if c := describeTopic(t, adm, "inc")["max.message.bytes"]; c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("after delete: %s %v", cfgValue(c), c.Source)
	}
	if err := produce(t, prod, "inc", 0, big); err != nil {
		t.Fatalf("produce after delete: %v", err)
	}
}

func TestAdminLogAppendTime(t *testing.T) {
	ab := startBroker(t)
	_, adm := newAdminClient(t, ab.addr)
	prod := producer(t, ab.addr)
	admCreateTopic(t, adm, "lat", 1, nil)
	old := time.UnixMilli(1_000_000_000_000) // 2001

	produceAt := func() {
		r := &kgo.Record{Topic: "lat", Partition: 0, Value: []byte("v"), Timestamp: old}
		if err := prod.ProduceSync(testCtx(t), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produceAt() // offset 0: CreateTime
	r, err := adm.AlterTopicConfigs(testCtx(t), []kadm.AlterConfig{{Name: "message.timestamp.type", Value: sp("LogAppendTime")}}, "lat")
	if err != nil || r[0].Err != nil {
		t.Fatalf("alter: %v %v", err, r)
	}
	before := time.Now().Add(-time.Second)
	produceAt() // offset 1: LogAppendTime

	cons, _ := newAdminClient(t, ab.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"lat": {0: kgo.NewOffset().AtStart()}}))
	var recs []*kgo.Record
	for len(recs) < 2 {
		fs := cons.PollFetches(testCtx(t))
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, fs.Records()...)
	}
	if !recs[0].Timestamp.Equal(old) || recs[0].Attrs.TimestampType() != 0 {
		t.Fatalf("CreateTime record: %v type %d", recs[0].Timestamp, recs[0].Attrs.TimestampType())
	}
	if recs[1].Timestamp.Before(before) || recs[1].Timestamp.After(time.Now().Add(time.Second)) || recs[1].Attrs.TimestampType() != 1 {
		t.Fatalf("LogAppendTime record: %v type %d, want broker time", recs[1].Timestamp, recs[1].Attrs.TimestampType())
	}
}

func TestAdminAlterConfigsReplaces(t *testing.T) {
	ab := startBroker(t)
	cl, adm := newAdminClient(t, ab.addr)
	admCreateTopic(t, adm, "legacy", 1, map[string]*string{"retention.ms": sp("1000"), "segment.ms": sp("2000")})

	r, err := adm.AlterTopicConfigsState(testCtx(t), []kadm.AlterConfig{{Name: "max.message.bytes", Value: sp("4000")}}, "legacy")
	if err != nil || r[0].Err != nil {
		t.Fatalf("legacy alter: %v %v", err, r)
	}
	c := describeTopic(t, adm, "legacy")
	if cfgValue(c["max.message.bytes"]) != "4000" || c["max.message.bytes"].Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("max.message.bytes %s", cfgValue(c["max.message.bytes"]))
	}
	for _, k := range []string{"retention.ms", "segment.ms"} {
		if c[k].Source != kmsg.ConfigSourceDefaultConfig {
			t.Fatalf("%s kept its override %s after a replacing AlterConfigs", k, cfgValue(c[k]))
		}
	}

	// Validate-only, invalid config, null value, duplicate resource, v0-v2.
	for v := int16(0); v <= 2; v++ {
		pc := pinnedClient(t, ab.addr, 33, v)
		mk := func(validate bool, name string, kv ...*string) *kmsg.AlterConfigsRequest {
			req := kmsg.NewPtrAlterConfigsRequest()
			req.ValidateOnly = validate
			rr := kmsg.NewAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, name
			for i := 0; i < len(kv); i += 2 {
				rc := kmsg.NewAlterConfigsRequestResourceConfig()
				rc.Name, rc.Value = *kv[i], kv[i+1]
				rr.Configs = append(rr.Configs, rc)
			}
			req.Resources = append(req.Resources, rr)
			return req
		}
		resp := direct[*kmsg.AlterConfigsResponse](t, pc, 0, mk(true, "legacy", sp("retention.ms"), sp("5")))
		wantCode(t, "validate-only", resp.Resources[0].ErrorCode, nil)
		resp = direct[*kmsg.AlterConfigsResponse](t, pc, 0, mk(false, "legacy", sp("retention.msx"), sp("5")))
		wantCode(t, "unknown key", resp.Resources[0].ErrorCode, kerr.InvalidConfig)
		resp = direct[*kmsg.AlterConfigsResponse](t, pc, 0, mk(false, "legacy", sp("retention.ms"), nil))
		wantCode(t, "null value", resp.Resources[0].ErrorCode, kerr.InvalidRequest)
		resp = direct[*kmsg.AlterConfigsResponse](t, pc, 0, mk(false, "missing", sp("retention.ms"), sp("5")))
		wantCode(t, "unknown topic", resp.Resources[0].ErrorCode, kerr.UnknownTopicOrPartition)
		req := mk(false, "legacy", sp("retention.ms"), sp("5"))
		req.Resources = append(req.Resources, req.Resources[0])
		resp = direct[*kmsg.AlterConfigsResponse](t, pc, 0, req)
		if len(resp.Resources) != 2 {
			t.Fatalf("duplicate resources: %d answers", len(resp.Resources))
		}
		wantCode(t, "duplicate resource", resp.Resources[0].ErrorCode, kerr.InvalidRequest)
		if c := describeTopic(t, adm, "legacy"); cfgValue(c["max.message.bytes"]) != "4000" || c["retention.ms"].Source != kmsg.ConfigSourceDefaultConfig {
			t.Fatalf("v%d: a refused or validate-only AlterConfigs changed the topic", v)
		}
	}
	_ = cl
}

func TestAdminAlterBrokerConfigs(t *testing.T) {
	ab := startBroker(t)
	cl, adm := newAdminClient(t, ab.addr)
	prod := producer(t, ab.addr)
	admCreateTopic(t, adm, "plain", 1, nil)
	admCreateTopic(t, adm, "override", 1, map[string]*string{"max.message.bytes": sp("100000")})
	big := bytes.Repeat([]byte("y"), 3000)

	alter := func(cs ...kadm.AlterConfig) error {
		t.Helper()
		r, err := adm.AlterBrokerConfigs(testCtx(t), cs)
		if err != nil {
			t.Fatal(err)
		}
		return r[0].Err
	}
	wantErr(t, "read-only num.partitions", alter(kadm.AlterConfig{Name: "num.partitions", Value: sp("4")}), kerr.InvalidRequest)
	wantErr(t, "unknown broker key", alter(kadm.AlterConfig{Name: "no.such", Value: sp("4")}), kerr.InvalidRequest)
	wantErr(t, "bad value", alter(kadm.AlterConfig{Name: "log.segment.bytes", Value: sp("10")}), kerr.InvalidRequest)

	wantErr(t, "set message.max.bytes", alter(kadm.AlterConfig{Name: "message.max.bytes", Value: sp("1000")}), nil)
	bc := describeBroker(t, adm)
	if c := bc["message.max.bytes"]; cfgValue(c) != "1000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("broker message.max.bytes %s %v", cfgValue(c), c.Source)
	}
	if c := describeTopic(t, adm, "plain")["max.message.bytes"]; cfgValue(c) != "1000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("topic inherits %s %v", cfgValue(c), c.Source)
	}
	wantErr(t, "produce to topic without override", produce(t, prod, "plain", 0, big), kerr.MessageTooLarge)
	if err := produce(t, prod, "override", 0, big); err != nil {
		t.Fatalf("produce to topic with override: %v", err)
	}

	// By node id, on the raw API: other ids are refused.
	for _, tc := range []struct {
		name string
		want *kerr.Error
	}{{"0", nil}, {"1", kerr.InvalidRequest}, {"x", kerr.InvalidRequest}} {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, tc.name
		rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		rc.Name, rc.Value = "log.retention.ms", sp("7200000")
		rr.Configs = append(rr.Configs, rc)
		req.Resources = append(req.Resources, rr)
		resp := direct[*kmsg.IncrementalAlterConfigsResponse](t, cl, 0, req)
		wantCode(t, "broker resource "+tc.name, resp.Resources[0].ErrorCode, tc.want)
	}
	if c := describeBroker(t, adm)["log.retention.ms"]; cfgValue(c) != "7200000" {
		t.Fatalf("log.retention.ms %s", cfgValue(c))
	}

	// DELETE restores the static value.
	wantErr(t, "delete message.max.bytes", alter(kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "message.max.bytes"}), nil)
	if err := produce(t, prod, "plain", 0, big); err != nil {
		t.Fatalf("produce after delete: %v", err)
	}

	// Legacy AlterConfigs on the broker replaces the dynamic set.
	r, err := adm.AlterBrokerConfigsState(testCtx(t), []kadm.AlterConfig{{Name: "min.insync.replicas", Value: sp("1")}})
	if err != nil || r[0].Err != nil {
		t.Fatalf("legacy broker alter: %v %v", err, r)
	}
	bc = describeBroker(t, adm)
	if bc["log.retention.ms"].Source != kmsg.ConfigSourceDefaultConfig || bc["min.insync.replicas"].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("after legacy replace: log.retention.ms %v, min.insync.replicas %v", bc["log.retention.ms"].Source, bc["min.insync.replicas"].Source)
	}
	if !bytes.Equal([]byte(cfgValue(bc["num.partitions"])), []byte("1")) {
		t.Fatalf("num.partitions %s", cfgValue(bc["num.partitions"]))
	}
}

// Segment and retention changes reach the open logs: with tiny segments
// and retention.bytes, old segments go and the log start offset moves.
func TestAdminConfigsApplyToLogs(t *testing.T) {
	ab := startBroker(t, func(c *engine.Config) { c.RetentionCheckMs = 20 })
	_, adm := newAdminClient(t, ab.addr)
	prod := producer(t, ab.addr)
	admCreateTopic(t, adm, "bytopic", 1, nil)
	admCreateTopic(t, adm, "bybroker", 1, nil)

	r, err := adm.AlterTopicConfigs(testCtx(t), []kadm.AlterConfig{
		{Name: "segment.bytes", Value: sp("1024")}, {Name: "retention.bytes", Value: sp("1")}}, "bytopic")
	if err != nil || r[0].Err != nil {
		t.Fatalf("topic alter: %v %v", err, r)
	}
	br, err := adm.AlterBrokerConfigs(testCtx(t), []kadm.AlterConfig{
		{Name: "log.segment.bytes", Value: sp("1024")}, {Name: "log.retention.bytes", Value: sp("1")}})
	if err != nil || br[0].Err != nil {
		t.Fatalf("broker alter: %v %v", err, br)
	}
	val := bytes.Repeat([]byte("z"), 400)
	for i := 0; i < 12; i++ {
		for _, tp := range []string{"bytopic", "bybroker"} {
			if err := produce(t, prod, tp, 0, val); err != nil {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		lo, err := adm.ListStartOffsets(testCtx(t), "bytopic", "bybroker")
		if err != nil {
			t.Fatal(err)
		}
		a, _ := lo.Lookup("bytopic", 0)
		b, _ := lo.Lookup("bybroker", 0)
		if a.Offset > 0 && b.Offset > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention did not run with the new options: start offsets %d, %d", a.Offset, b.Offset)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAdminConfigsSurviveRestart(t *testing.T) {
	ab := startBroker(t)
	_, adm := newAdminClient(t, ab.addr)
	admCreateTopic(t, adm, "persist", 1, nil)
	admCreateTopic(t, adm, "gone", 1, nil)
	r, err := adm.AlterTopicConfigs(testCtx(t), []kadm.AlterConfig{{Name: "max.message.bytes", Value: sp("600")}}, "persist")
	if err != nil || r[0].Err != nil {
		t.Fatalf("alter topic: %v %v", err, r)
	}
	br, err := adm.AlterBrokerConfigs(testCtx(t), []kadm.AlterConfig{{Name: "log.retention.ms", Value: sp("123456")}})
	if err != nil || br[0].Err != nil {
		t.Fatalf("alter broker: %v %v", err, br)
	}
	if cr, err := adm.UpdatePartitions(testCtx(t), 2, "persist"); err != nil || cr["persist"].Err != nil {
		t.Fatalf("grow: %v %v", err, cr)
	}
	if dr, err := adm.DeleteTopics(testCtx(t), "gone"); err != nil || dr["gone"].Err != nil {
		t.Fatalf("delete: %v %v", err, dr)
	}
	ab.restart()
	ab2 := ab
	cl2, adm2 := newAdminClient(t, ab2.addr)
	tc := describeTopic(t, adm2, "persist")
	if c := tc["max.message.bytes"]; cfgValue(c) != "600" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("after restart max.message.bytes %s %v", cfgValue(c), c.Source)
	}
	if c := tc["retention.ms"]; cfgValue(c) != "123456" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("after restart retention.ms %s %v", cfgValue(c), c.Source)
	}
	if n := partitionCount(t, cl2, "persist"); n != 2 {
		t.Fatalf("after restart %d partitions", n)
	}
	if n := partitionCount(t, cl2, "gone"); n != -1 {
		t.Fatal("deleted topic came back")
	}
	wantErr(t, "produce after restart", produce(t, producer(t, ab2.addr), "persist", 1, bytes.Repeat([]byte("q"), 2000)), kerr.MessageTooLarge)
}

// ---- DescribeLogDirs ----

func TestAdminDescribeLogDirs(t *testing.T) {
	ab := startBroker(t)
	cl, adm := newAdminClient(t, ab.addr)
	admCreateTopic(t, adm, "dirs", 2, nil)

	sizeOf := func() int64 {
		t.Helper()
		all, err := adm.DescribeAllLogDirs(testCtx(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		dirs := all[0]
		if len(dirs) != 1 {
			t.Fatalf("log dirs %v", dirs)
		}
		for name, d := range dirs {
			if !filepath.IsAbs(name) || d.Err != nil {
				t.Fatalf("dir %q err %v", name, d.Err)
			}
			if ps := d.Topics["dirs"]; len(ps) != 2 {
				t.Fatalf("partitions of dirs: %v", ps)
			}
			return d.Topics["dirs"][0].Size
		}
		return -1
	}
	before := sizeOf()
	prod := producer(t, ab.addr)
	for i := 0; i < 5; i++ {
		if err := produce(t, prod, "dirs", 0, bytes.Repeat([]byte("d"), 500)); err != nil {
			t.Fatal(err)
		}
	}
	after := sizeOf()
	if after < before+2500 {
		t.Fatalf("size %d -> %d after 2500+ bytes produced", before, after)
	}

	abs, _ := filepath.Abs(ab.cfg.DataDir)
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrDescribeLogDirsRequest()
		rt := kmsg.NewDescribeLogDirsRequestTopic()
		rt.Topic, rt.Partitions = "dirs", []int32{0, 99}
		rt2 := kmsg.NewDescribeLogDirsRequestTopic()
		rt2.Topic, rt2.Partitions = "missing", []int32{0}
		req.Topics = append(req.Topics, rt, rt2)
		resp := direct[*kmsg.DescribeLogDirsResponse](t, pinnedClient(t, ab.addr, 35, v), 0, req)
		if resp.Version != v || len(resp.Dirs) != 1 {
			t.Fatalf("v%d: version %d dirs %d", v, resp.Version, len(resp.Dirs))
		}
		d := resp.Dirs[0]
		if d.Dir != abs || d.ErrorCode != 0 {
			t.Fatalf("v%d: dir %q (want %q) code %d", v, d.Dir, abs, d.ErrorCode)
		}
		if len(d.Topics) != 1 || d.Topics[0].Topic != "dirs" || len(d.Topics[0].Partitions) != 1 || d.Topics[0].Partitions[0].Partition != 0 {
			t.Fatalf("v%d: topics %+v", v, d.Topics)
		}
		if p := d.Topics[0].Partitions[0]; p.Size != after || p.OffsetLag != 0 || p.IsFuture {
			t.Fatalf("v%d: partition %+v, size want %d", v, p, after)
		}
		if v >= 4 && (d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes) {
			t.Fatalf("v4: total %d usable %d", d.TotalBytes, d.UsableBytes)
		}
	}
	_ = cl
	if _, err := os.Stat(filepath.Join(ab.cfg.DataDir, "dirs-0")); err != nil {
		t.Fatal(err)
	}
}

// ---- DeleteRecords ----

func TestAdminDeleteRecords(t *testing.T) {
	ab := startBroker(t)
	cl, adm := newAdminClient(t, ab.addr)
	admCreateTopic(t, adm, "dr", 2, nil)
	prod := producer(t, ab.addr)
	for i := 0; i < 10; i++ {
		if err := produce(t, prod, "dr", 0, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}

	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "dr", Partition: 0, At: 5})
	res, err := adm.DeleteRecords(testCtx(t), offs)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := res.Lookup("dr", 0); r.Err != nil || r.LowWatermark != 5 {
		t.Fatalf("delete before 5: %+v", r)
	}
	lo, err := adm.ListStartOffsets(testCtx(t), "dr")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := lo.Lookup("dr", 0); o.Offset != 5 {
		t.Fatalf("earliest offset %d, want 5", o.Offset)
	}

	fetch := func(offset int64) int16 {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "dr", topicIDOf(t, cl, "dr")
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = 0, offset, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := direct[*kmsg.FetchResponse](t, cl, 0, req)
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode == 0 && p.LogStartOffset != 5 {
			t.Fatalf("fetch log start offset %d", p.LogStartOffset)
		}
		return p.ErrorCode
	}
	wantCode(t, "fetch below log start", fetch(2), kerr.OffsetOutOfRange)
	wantCode(t, "fetch at log start", fetch(5), nil)

	for v := int16(0); v <= 2; v++ {
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.TimeoutMillis = 5000
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = "dr"
		for _, po := range [][2]int64{{0, 3}, {0, 11}, {1, 0}, {7, 0}} {
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Partition, rp.Offset = int32(po[0]), po[1]
			rt.Partitions = append(rt.Partitions, rp)
		}
		rt2 := kmsg.NewDeleteRecordsRequestTopic()
		rt2.Topic = "missing"
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rt2.Partitions = append(rt2.Partitions, rp)
		req.Topics = append(req.Topics, rt, rt2)
		resp := direct[*kmsg.DeleteRecordsResponse](t, pinnedClient(t, ab.addr, 21, v), 0, req)
		if resp.Version != v || len(resp.Topics) != 2 || len(resp.Topics[0].Partitions) != 4 {
			t.Fatalf("v%d: response %+v", v, resp)
		}
		ps := resp.Topics[0].Partitions
		wantCode(t, "below log start", ps[0].ErrorCode, nil)
		if ps[0].LowWatermark != 5 {
			t.Fatalf("below log start: low watermark %d, want 5", ps[0].LowWatermark)
		}
		wantCode(t, "above high watermark", ps[1].ErrorCode, kerr.OffsetOutOfRange)
		wantCode(t, "empty partition at 0", ps[2].ErrorCode, nil)
		wantCode(t, "unknown partition", ps[3].ErrorCode, kerr.UnknownTopicOrPartition)
		wantCode(t, "unknown topic", resp.Topics[1].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)
	}

	// -1: up to the high watermark.
	offs = kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "dr", Partition: 0, At: -1})
	res, err = adm.DeleteRecords(testCtx(t), offs)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := res.Lookup("dr", 0); r.Err != nil || r.LowWatermark != 10 {
		t.Fatalf("delete to high watermark: %+v", r)
	}
	wantCode(t, "fetch below new log start", fetch(9), kerr.OffsetOutOfRange)

	// The raised log start offset survives a restart.
	ab.restart()
	_, adm2 := newAdminClient(t, ab.addr)
	lo, err = adm2.ListStartOffsets(testCtx(t), "dr")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := lo.Lookup("dr", 0); o.Offset != 10 {
		t.Fatalf("earliest offset after restart %d, want 10", o.Offset)
	}
}

// ---- DescribeCluster ----

func TestAdminDescribeCluster(t *testing.T) {
	ab := startBroker(t, func(c *engine.Config) { c.NodeID = 2 })
	cl, _ := newAdminClient(t, ab.addr)
	md := direct[*kmsg.MetadataResponse](t, cl, 2, kmsg.NewPtrMetadataRequest())
	host, portS, _ := net.SplitHostPort(ab.addr)

	for v := int16(0); v <= 1; v++ {
		pc := pinnedClient(t, ab.addr, 60, v)
		req := kmsg.NewPtrDescribeClusterRequest()
		resp := direct[*kmsg.DescribeClusterResponse](t, pc, 2, req)
		if resp.Version != v || resp.ErrorCode != 0 {
			t.Fatalf("v%d: version %d code %d", v, resp.Version, resp.ErrorCode)
		}
		if md.ClusterID == nil || resp.ClusterID != *md.ClusterID || resp.ClusterID == "" {
			t.Fatalf("v%d: cluster id %q, metadata says %v", v, resp.ClusterID, md.ClusterID)
		}
		if resp.ControllerID != 2 || len(resp.Brokers) != 1 {
			t.Fatalf("v%d: controller %d brokers %+v", v, resp.ControllerID, resp.Brokers)
		}
		b := resp.Brokers[0]
		if b.NodeID != 2 || b.Host != host || strconv.Itoa(int(b.Port)) != portS {
			t.Fatalf("v%d: broker %+v, want 2 %s:%s", v, b, host, portS)
		}
		if resp.ClusterAuthorizedOperations != -2147483648 {
			t.Fatalf("v%d: authorized operations %d when not asked", v, resp.ClusterAuthorizedOperations)
		}
		req.IncludeClusterAuthorizedOperations = true
		resp = direct[*kmsg.DescribeClusterResponse](t, pc, 2, req)
		if ops := resp.ClusterAuthorizedOperations; ops <= 0 || ops&(1<<8) == 0 || ops&(1<<11) == 0 {
			t.Fatalf("v%d: authorized operations %b", v, ops)
		}
	}
	req := kmsg.NewPtrDescribeClusterRequest()
	req.EndpointType = 2
	resp := direct[*kmsg.DescribeClusterResponse](t, cl, 2, req)
	wantCode(t, "controller endpoint type", resp.ErrorCode, kerr.UnsupportedEndpointType)
}
