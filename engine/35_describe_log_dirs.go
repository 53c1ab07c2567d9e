package engine

import (
	"github.com/chronik/chronik/engine/partition"
	"path/filepath"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

// DescribeLogDirs: v0-4
//
// Behaviour:
//   - One log dir: the absolute path of the data dir (log.dirs).
//   - Topics null: every partition; otherwise the requested partitions that
//     exist (unknown topics and partitions are left out, as Kafka does).
//   - Per partition: Size = the log's bytes on disk (wal Size), OffsetLag 0
//     (no future replica), IsFuture false.
//   - v4: TotalBytes / UsableBytes of the volume from statfs(2); -1 when
//     statfs fails (e.g. an in-memory test file system's path).
//
// Version notes: v1 throttle; v2 flexible; v3 top-level ErrorCode; v4
// TotalBytes, UsableBytes.

func init() { regKey(35, 0, 4, handleDescribeLogDirs) }

func handleDescribeLogDirs(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = b.cfg.DataDir
	if abs, err := filepath.Abs(b.cfg.DataDir); err == nil {
		dir.Dir = abs
	}
	if req.Version >= 4 {
		var st unix.Statfs_t
		if err := unix.Statfs(dir.Dir, &st); err == nil {
			dir.TotalBytes = int64(st.Blocks) * int64(st.Bsize)
			dir.UsableBytes = int64(st.Bavail) * int64(st.Bsize)
		}
	}

	type sel struct {
		t  *topic
		ps []*partition.Partition
	}
	var sels []sel
	b.mu.RLock()
	if req.Topics == nil {
		for _, t := range b.topics {
			sels = append(sels, sel{t, localOnly(t.partitions)})
		}
		sort.Slice(sels, func(i, j int) bool { return sels[i].t.name < sels[j].t.name })
	} else {
		idx := map[string]int{}
		for _, rt := range req.Topics {
			t := b.topics[rt.Topic]
			if t == nil {
				continue
			}
			i, ok := idx[rt.Topic]
			if !ok {
				i = len(sels)
				idx[rt.Topic] = i
				sels = append(sels, sel{t: t})
			}
			for _, p := range rt.Partitions {
				if p >= 0 && int(p) < len(t.partitions) && t.partitions[p] != nil && !hasPartition(sels[i].ps, p) {
					sels[i].ps = append(sels[i].ps, t.partitions[p])
				}
			}
		}
	}
	b.mu.RUnlock()

	for _, s := range sels {
		if len(s.ps) == 0 {
			continue
		}
		rt := kmsg.NewDescribeLogDirsResponseDirTopic()
		rt.Topic = s.t.name
		for _, p := range s.ps {
			rp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			rp.Partition = p.Index()
			rp.Size = p.Log().Size()
			rt.Partitions = append(rt.Partitions, rp)
		}
		dir.Topics = append(dir.Topics, rt)
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp, nil
}

// localOnly drops the nil entries (partitions with no replica here).
func localOnly(ps []*partition.Partition) []*partition.Partition {
	var out []*partition.Partition
	for _, p := range ps {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

func hasPartition(ps []*partition.Partition, i int32) bool {
	for _, p := range ps {
		if p.Index() == i {
			return true
		}
	}
	return false
}
