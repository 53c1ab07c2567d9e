package engine_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMetricsCountProducedRecordsAndWALAppends(t *testing.T) {
	tb := startBroker(t)
	cl := tb.client(kgo.DefaultProduceTopic("m"), kgo.AllowAutoTopicCreation())
	ctx := ctxT(t, 20*time.Second)
	for i := 0; i < 3; i++ {
		rs := []*kgo.Record{{Value: []byte("a")}, {Value: []byte("b")}}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	m := tb.b.Metrics()
	if m.ProducedRecords != 6 || m.ProducedBatches < 3 || m.WAL.Appends != int64(m.ProducedBatches) {
		t.Fatalf("metrics after 6 records: %+v", m)
	}
	if m.Topics != 1 || m.Partitions != 1 || m.ProduceRequests < 3 || m.ProduceErrors != 0 {
		t.Fatalf("metrics: %+v", m)
	}
}
