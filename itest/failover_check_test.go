package itest

import (
	"context"
	"testing"

	"github.com/chronik/chronik/testbed"
)

// checkFoLoad is the final check of a failover scenario, on the
// replication tests' helpers: once the load is finished and the cluster
// healthy, every replica of l's topic is byte-identical to its leader
// and holds every acknowledged offset (waitReplicasEqual), and the topic
// read back through broker via holds every acknowledged record once, at
// its acknowledged partition and offset, each producer's records in
// order, offsets dense, nothing the load did not write (checkStream).
func checkFoLoad(t *testing.T, ctx context.Context, c *testbed.Cluster, l *foLoad, via int32) {
	t.Helper()
	acked := l.book()
	waitReplicasEqual(t, ctx, c, l.topic, endsOf(acked))
	recs, ends := consumeTopic(t, ctx, c.Node(via).KafkaAddr, l.topic)
	checkStream(t, "franz-go", recs, acked, ends)
	t.Logf("%s: read %d records through broker %d, %d acknowledged", l.topic, len(recs), via, len(acked))
}
