package engine

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/chronik/chronik/wal/vfs/memfs"
)

// TestPreallocateFollowsLogPreallocate: by default (Kafka's
// log.preallocate=false) a partition's active segment is as long as its
// data; with log.preallocate=true it is reserved ahead of it.
func TestPreallocateFollowsLogPreallocate(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprint("preallocate=", on), func(t *testing.T) {
			fsys := memfs.New()
			b := openMemBroker(t, fsys, func(c *Config) {
				if err := c.Set("log.preallocate", fmt.Sprint(on)); err != nil {
					t.Fatal(err)
				}
			})
			defer b.Close()
			if _, kerrv := b.createTopicChecked("pa", 1, -1, nil, false); kerrv != nil {
				t.Fatal(kerrv)
			}
			if c := produceCode(t, b, "pa", 1, 3); c != 0 {
				t.Fatalf("produce: code %d", c)
			}
			_, p := b.lookupPartition("pa", [16]byte{}, 0)
			st, err := fsys.Stat(filepath.Join(p.Log().Dir(), fmt.Sprintf("%020d.log", 0)))
			if err != nil {
				t.Fatal(err)
			}
			data := p.Log().Size()
			if reserved := st.Size() > data; reserved != on {
				t.Fatalf("segment file %d bytes for %d of data: reserved ahead %v, want %v", st.Size(), data, reserved, on)
			}
		})
	}
}
