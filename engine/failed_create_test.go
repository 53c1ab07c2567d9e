package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/chronik/chronik/wal/vfs/memfs"
	"github.com/twmb/franz-go/pkg/kerr"
)

// partitionDirs lists the partition directories of topic under /data.
func partitionDirs(t *testing.T, fsys *memfs.FS, topic string) []string {
	t.Helper()
	names, err := fsys.ReadDir("/data")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, topic+"-") {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// A CreateTopics or CreatePartitions that fails on one partition's disk
// half-way leaves none of the partitions it made on disk (they would be
// reopened as strays, or resurrected by a later topic of that name), keeps
// the partitions that were there, and the same request succeeds once the
// disk does.
func TestAFailedCreateLeavesNothingOnDisk(t *testing.T) {
	fsys := memfs.New()
	cfg := DefaultConfig()
	cfg.DataDir = "/data"
	b, err := Open(cfg, fsys, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	boom := errors.New("injected EIO")

	fsys.InjectError(memfs.OpOpen, "/data/h-5/", boom)
	if _, kerrv := b.createTopicChecked("h", 8, -1, nil, false); kerrv != kerr.KafkaStorageError {
		t.Fatalf("create with a failing partition: %v, want KAFKA_STORAGE_ERROR", kerrv)
	}
	if dirs := partitionDirs(t, fsys, "h"); len(dirs) != 0 {
		t.Fatalf("a failed create left %v on disk", dirs)
	}
	if b.lookupTopic("h") != nil {
		t.Fatal("a failed create left the topic visible")
	}
	fsys.ClearErrors()
	if _, kerrv := b.createTopicChecked("h", 8, -1, nil, false); kerrv != nil {
		t.Fatalf("create after the disk recovered: %v", kerrv)
	}

	if _, kerrv := b.createTopicChecked("g", 2, -1, nil, false); kerrv != nil {
		t.Fatal(kerrv)
	}
	fsys.InjectError(memfs.OpOpen, "/data/g-3/", boom)
	if err := b.cluster().CreatePartitions(ctx, "g", 5, nil, false); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("grow with a failing partition: %v, want KAFKA_STORAGE_ERROR", err)
	}
	if dirs := partitionDirs(t, fsys, "g"); !slices.Equal(dirs, []string{"g-0", "g-1"}) {
		t.Fatalf("after a failed grow %v on disk, want [g-0 g-1]", dirs)
	}
	fsys.ClearErrors()
	if err := b.cluster().CreatePartitions(ctx, "g", 5, nil, false); err != nil {
		t.Fatalf("grow after the disk recovered: %v", err)
	}
	if n := len(b.topicPartitions(b.lookupTopic("g"))); n != 5 {
		t.Fatalf("g has %d partitions, want 5", n)
	}
}
