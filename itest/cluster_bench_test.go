package itest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkClusterStart: 3 broker processes from exec until each lists all
// three in Metadata (testbed.Start), then teardown (not timed).
//
//	go test -run '^$' -bench ClusterStart -benchtime 5x ./itest
func BenchmarkClusterStart(b *testing.B) {
	bin := binaryPath(b)
	for i := 0; b.Loop(); i++ {
		c, err := testbed.Start(testbed.Config{Bin: bin, Nodes: 3, Dir: filepath.Join(b.TempDir(), fmt.Sprint(i))})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}

// BenchmarkClusterCreateTopicVisibleEverywhere: CreateTopics through broker
// 1 until brokers 2 and 3 both list the topic in Metadata (includes the
// client round trips and the polling of 2 and 3).
//
//	go test -run '^$' -bench ClusterCreateTopic -benchtime 100x ./itest
func BenchmarkClusterCreateTopicVisibleEverywhere(b *testing.B) {
	c, err := testbed.Start(testbed.Config{Bin: binaryPath(b), Nodes: 3, Dir: filepath.Join(b.TempDir(), "c")})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var cls []*kgo.Client
	for _, n := range c.Nodes {
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.KafkaAddr))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		cls = append(cls, cl)
	}
	adm := kadm.NewClient(cls[0])
	var create time.Duration
	n := 0
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("bench-%d", i)
		t0 := time.Now()
		r, err := adm.CreateTopic(ctx, 3, 1, nil, name)
		create += time.Since(t0)
		n++
		if err != nil || r.Err != nil {
			b.Fatal(err, r.Err)
		}
		for _, cl := range cls[1:] {
			for !knows(ctx, cl, name) {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	b.ReportMetric(float64(create.Microseconds())/float64(n), "createtopics-us/op")
}

func knows(ctx context.Context, cl *kgo.Client, topic string) bool {
	req := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	return err == nil && len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0
}
