package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chronik/chronik/engine/partition"
	"github.com/chronik/chronik/raftmeta"
)

// The leader side of replication, as the broker wires it: the settings
// every partition gets (its ISR changes go to the controller), the
// periodic ISR shrink check, and the high-watermark checkpoint. The
// follower side is package replicate (started by JoinCluster); the
// leader's per-follower state and the high watermark are engine/partition.

// partitionSettings are the replication settings of a new partition.
func (b *Broker) partitionSettings() partition.Settings {
	return partition.Settings{
		Self:       b.cfg.NodeID,
		LagTimeMax: b.cfg.Replication.lagTimeMax(),
		ProposeISR: b.proposeISR,
		Now:        b.now,
	}
}

// isrProposeTimeout bounds one ISR change commit.
const isrProposeTimeout = 10 * time.Second

// proposeISR commits an ISR change through the controller on its own
// goroutine (the partition calls it from a fetch handler or the ISR
// check, which must not wait for Raft).
func (b *Broker) proposeISR(p *partition.Partition, c partition.ISRChange, done func(error)) {
	rc, ok := b.cluster().(*raftCluster)
	if !ok {
		done(errors.New("no controller: standalone partitions have no followers"))
		return
	}
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), isrProposeTimeout)
		defer cancel()
		err := rc.node.ChangeISR(ctx, raftmeta.ChangeISR{Topic: p.Topic(), Partition: p.Index(), Leader: b.cfg.NodeID,
			LeaderEpoch: c.LeaderEpoch, PartitionEpoch: c.PartitionEpoch, ISR: c.ISR})
		switch {
		case err != nil:
			b.log.Info("ISR change not committed", "partition", p.String(), "isr", c.ISR, "err", err)
		case len(c.ISR) < p.ISRSize():
			b.log.Info("ISR shrunk", "partition", p.String(), "isr", c.ISR)
			b.ctr.isrShrinks.Add(1)
		default:
			b.log.Info("ISR expanded", "partition", p.String(), "isr", c.ISR)
			b.ctr.isrExpands.Add(1)
		}
		done(err)
	}()
}

// checkISRs asks every partition this broker leads to drop followers that
// fell behind (replica.lag.time.max.ms); background calls it every half
// of that.
func (b *Broker) checkISRs() {
	for _, p := range b.allPartitions() {
		if p.IsLeader() {
			p.CheckISR()
		}
	}
}

// hwCheckpointFile holds every local partition's high watermark (Kafka's
// replication-offset-checkpoint): version, count, "topic partition hw".
const hwCheckpointFile = "replication-offset-checkpoint"

// loadHWCheckpoint reads the checkpoint written before the last stop
// (missing: every high watermark starts at 0 and is learned again).
func (b *Broker) loadHWCheckpoint() error {
	b.hwAtStart = map[string]int64{}
	data, err := readWholeFile(b.fs, filepath.Join(b.cfg.DataDir, hwCheckpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", hwCheckpointFile, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 0; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if n < 2 || len(f) != 3 {
			continue // version and count lines
		}
		hw, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return fmt.Errorf("%s: line %q: %w", hwCheckpointFile, sc.Text(), err)
		}
		b.hwAtStart[f[0]+"-"+f[1]] = hw
	}
	return sc.Err()
}

// checkpointedHW is a partition's high watermark from the checkpoint read
// at Open (0 if none).
func (b *Broker) checkpointedHW(topic string, i int32) int64 {
	return b.hwAtStart[topic+"-"+strconv.Itoa(int(i))]
}

// writeHWCheckpoint records every local partition's high watermark. It
// takes b.metaMu (one writer at a time).
func (b *Broker) writeHWCheckpoint() error {
	var lines []string
	for _, p := range b.allPartitions() {
		lines = append(lines, fmt.Sprintf("%s %d %d", p.Topic(), p.Index(), p.HighWatermark()))
	}
	sort.Strings(lines)
	body := fmt.Sprintf("0\n%d\n%s", len(lines), strings.Join(lines, "\n"))
	if len(lines) > 0 {
		body += "\n"
	}
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	return writeFileAtomic(b.fs, filepath.Join(b.cfg.DataDir, hwCheckpointFile), []byte(body))
}
