package memfs

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/chronik/chronik/wal/vfs"
)

func TestRebootTearsWritesIntoPreallocatedSpace(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	kept := map[int]bool{}
	for range 50 {
		m := New()
		f, _ := m.OpenFile("/f", os.O_CREATE|os.O_RDWR, 0o644)
		f.(vfs.Allocator).Allocate(100)
		f.Sync()
		m.SyncDir("/")
		f.WriteAt(bytes.Repeat([]byte{7}, 40), 10)
		after := m.Reboot(rng)
		g, _ := after.OpenFile("/f", os.O_RDONLY, 0)
		size, _ := g.Size()
		b := make([]byte, 100)
		g.ReadAt(b, 0)
		n := bytes.Count(b, []byte{7})
		if size != 100 || !bytes.Equal(b[10:10+n], bytes.Repeat([]byte{7}, n)) {
			t.Fatalf("size %d, %d bytes kept not a prefix: %v", size, n, b)
		}
		kept[n] = true
	}
	if len(kept) < 5 {
		t.Fatalf("tears kept only %v bytes", kept)
	}
}
