package netio

import (
	"testing"
)

func TestFrameClasses(t *testing.T) {
	for _, c := range []struct{ size, class int }{
		{0, -1}, {1, -1}, {2048, -1}, // small frames: plain allocations
		{2049, 0}, {4096, 0}, {4097, 1}, {8192, 1},
		{512 << 10, 19 - minPooledFrameShift}, {512<<10 + 1, 20 - minPooledFrameShift},
		{16 << 20, maxPooledFrameShift - minPooledFrameShift}, {16<<20 + 1, -1},
	} {
		if got := frameClass(c.size); got != c.class {
			t.Errorf("frameClass(%d) = %d, want %d", c.size, got, c.class)
		}
		f, h := getFrame(c.size)
		if len(f) != c.size {
			t.Errorf("getFrame(%d): len %d", c.size, len(f))
		}
		if (h != nil) != (c.class >= 0) {
			t.Errorf("getFrame(%d): pooled %v, class %d", c.size, h != nil, c.class)
		}
		if h != nil {
			if cap(f) != 1<<(c.class+minPooledFrameShift) || &(*h)[0] != &f[0] {
				t.Errorf("getFrame(%d): cap %d, holder shares the array %v", c.size, cap(f), &(*h)[0] == &f[0])
			}
			putFrame(h)
		}
	}
}

// TestReleaseOnce: Release gives the frame back once; a second call and a
// request that was never pooled are no-ops.
func TestReleaseOnce(t *testing.T) {
	f, h := getFrame(100 << 10)
	r := &Request{Body: f[8:], frame: h}
	r.Release()
	if r.frame != nil || r.Body != nil {
		t.Fatalf("after Release: frame %v, body %d bytes", r.frame != nil, len(r.Body))
	}
	r.Release()
	(&Request{Body: make([]byte, 10)}).Release()
}

// BenchmarkFrameAlloc is the per-request frame of a 512 KiB produce
// request, allocated fresh (before frames.go) and from the pools.
func BenchmarkFrameAlloc(b *testing.B) {
	const size = 512 << 10
	b.Run("make", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			f := make([]byte, size)
			f[0] = 1
			sink = f
		}
	})
	b.Run("pool", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			f, h := getFrame(size)
			f[0] = 1
			sink = f
			putFrame(h)
		}
	})
}

var sink []byte
