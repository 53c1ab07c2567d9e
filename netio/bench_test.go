package netio

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkFrame measures the framing/dispatch path: the header parse and
// response encode alone, then whole round trips over loopback with a
// pipelining client and a handler that answers at once.
func BenchmarkFrame(b *testing.B) {
	fmtr := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench-client"))
	b.Run("parse", func(b *testing.B) {
		frame := fmtr.AppendRequest(nil, &kmsg.ApiVersionsRequest{Version: 3, ClientSoftwareName: "b", ClientSoftwareVersion: "1"}, 1)[4:]
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseRequestHeader(frame); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		resp := kmsg.NewPtrMetadataResponse()
		resp.Version = 12
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		for b.Loop() {
			buf = appendResponse(buf[:0], 1, resp)
		}
		b.SetBytes(int64(len(buf)))
	})
	for _, size := range []int{64, 16 << 10, 512 << 10} { // 512 KiB: a produce of 4 full 128 KiB batches
		b.Run(fmt.Sprintf("roundtrip/size=%d", size), func(b *testing.B) {
			benchRoundTrip(b, size)
		})
	}
	// One request at a time, as a low-rate client sends them: the time
	// per op is the broker-side latency of a request and its answer
	// (loop -> worker -> socket), and every hand-off shows in it.
	b.Run("pingpong/size=64", func(b *testing.B) { benchPingPong(b, 64, false) })
	// The same, the answer sent later from another goroutine (a parked
	// request: a long-poll fetch, an acks=-1 produce).
	b.Run("pingpong-parked/size=64", func(b *testing.B) { benchPingPong(b, 64, true) })
}

func benchPingPong(b *testing.B, bodySize int, parked bool) {
	answers := make(chan Responder, 1)
	if parked {
		go func() {
			for respond := range answers {
				respond(v0Response())
			}
		}()
		defer close(answers)
	}
	s := startServer(b, Options{}, handlerFunc(func(req *Request, respond Responder) error {
		if parked {
			answers <- respond
			return nil
		}
		respond(v0Response())
		return nil
	}))
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	frame := binary.BigEndian.AppendUint32(nil, uint32(10+bodySize))
	frame = append(frame, header(0, 3, 0, nil, nil)...)
	frame = append(frame, make([]byte, bodySize)...)
	r := bufio.NewReader(c)
	var size [4]byte
	b.ReportAllocs()
	cpu0 := processCPU(b)
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		if _, err := c.Write(frame); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(r, size[:]); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Discard(int(binary.BigEndian.Uint32(size[:]))); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
}

// processCPU is the process's user+system CPU time in ns (client and
// server alike: the client's share is the same before and after a change
// to the server).
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func benchRoundTrip(b *testing.B, bodySize int) {
	const window = 32
	s := startServer(b, Options{MaxQueuedRequests: window}, handlerFunc(func(req *Request, respond Responder) error {
		respond(v0Response())
		return nil
	}))
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	frame := binary.BigEndian.AppendUint32(nil, uint32(10+bodySize))
	frame = append(frame, header(0, 3, 0, nil, nil)...)
	frame = append(frame, make([]byte, bodySize)...)

	n := b.N
	errc := make(chan error, 1)
	go func() { // reader: drain n responses
		r := bufio.NewReader(c)
		var size [4]byte
		for i := 0; i < n; i++ {
			if _, err := io.ReadFull(r, size[:]); err != nil {
				errc <- err
				return
			}
			if _, err := r.Discard(int(binary.BigEndian.Uint32(size[:]))); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	w := bufio.NewWriterSize(c, 64<<10)
	for i := 0; i < n; i++ {
		if _, err := w.Write(frame); err != nil {
			b.Fatal(err)
		}
		if i%window == window-1 {
			_ = w.Flush()
		}
	}
	_ = w.Flush()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(n), "cpu-ns/op")
}
