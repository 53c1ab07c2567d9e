package engine

import (
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkProduce measures the produce path below the socket: decode,
// validate (header, CRC32C, record framing), producer checks and the pwrite
// append, for acks=1 and acks=-1 (with fdatasync group commit).
func BenchmarkProduce(b *testing.B) {
	for _, acks := range []int16{1, -1} {
		for _, records := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("acks=%d/records=%d/size=100", acks, records), func(b *testing.B) {
				benchProduce(b, acks, records, 100)
			})
		}
	}
}

func benchProduce(b *testing.B, acks int16, records, size int) {
	br := openBenchBroker(b)
	vals := make([][]byte, records)
	for i := range vals {
		vals[i] = make([]byte, size)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, acks, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "bench"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = makeBatch(testBatch{values: vals})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	body := req.AppendTo(nil)
	r := &Request{Key: 0, Version: 9, Body: body}
	done := make(chan struct{}, 1)
	respond := func(resp kmsg.Response) { // what netio does: write, then release
		c := resp.(*produceCall)
		if code := c.results[0].errCode; code != 0 {
			b.Errorf("produce error %d", code)
		}
		c.ReleaseBody()
		done <- struct{}{}
	}
	b.SetBytes(int64(len(rp.Records)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := br.Handle(r, respond); err != nil {
			b.Fatal(err)
		}
		<-done
	}
	b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkFetch measures the fetch path below the socket: decode, partition
// lookup, the zero-copy read and the hand-rolled framing, then the release
// netio does once the bytes are written. B/op over the bytes/op (MB/s
// column) is the bytes allocated per fetched byte.
func BenchmarkFetch(b *testing.B) {
	for _, maxBytes := range []int32{64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("maxBytes=%d/batch=10x100", maxBytes), func(b *testing.B) {
			benchFetch(b, maxBytes)
		})
	}
}

func benchFetch(b *testing.B, maxBytes int32) {
	br := openBenchBroker(b)
	vals := make([][]byte, 10)
	for i := range vals {
		vals[i] = make([]byte, 100)
	}
	_, p := br.lookupPartition("bench", [16]byte{}, 0)
	for range 20000 {
		if _, err := p.Log().Append(makeBatch(testBatch{values: vals}), 0); err != nil {
			b.Fatal(err)
		}
	}
	leo := p.Log().LogEndOffset()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxBytes, req.MaxWaitMillis = 12, maxBytes, 0
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "bench"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = maxBytes
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	var fetched int64
	respond := func(resp kmsg.Response) {
		fr := resp.(*fetchResponse)
		for _, s := range fr.BodyVec() {
			fetched += int64(len(s))
		}
		fr.ReleaseBody()
	}
	reqs := make([]*Request, 64) // request encoding stays out of the loop
	for i := range reqs {
		req.Topics[0].Partitions[0].FetchOffset = int64(i) * 1237 % leo
		reqs[i] = &Request{Key: 1, Version: 12, Body: req.AppendTo(nil)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if err := br.Handle(reqs[i%len(reqs)], respond); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.SetBytes(fetched / int64(max(b.N, 1)))
}

// BenchmarkLongPollWake measures what a low-rate consumer costs per
// record batch: a long-poll fetch (MinBytes 1) parks at the log end, a
// produce of one batch wakes it, and the fetch answers with the batch.
// Per op: the produce, the wake-up, the fetch's look and its answer (the
// consumer's next fetch parks again). cpu-ns/op is the process's CPU.
func BenchmarkLongPollWake(b *testing.B) {
	br := openBenchBroker(b)
	preq := kmsg.NewPtrProduceRequest()
	preq.Version, preq.Acks, preq.TimeoutMillis = 9, 1, 30000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "bench"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = makeBatch(testBatch{values: [][]byte{make([]byte, 100), make([]byte, 100)}})
	pt.Partitions = append(pt.Partitions, pp)
	preq.Topics = append(preq.Topics, pt)
	produce := &Request{Key: 0, Version: 9, Body: preq.AppendTo(nil)}
	produced := func(resp kmsg.Response) { resp.(*produceCall).ReleaseBody() }

	freq := longPollFetch("bench", 1, 1, 500)
	fetches := make([]*Request, 1024) // encoded outside the timed loop, 1024 at a time
	encode := func(from int) {
		for j := range fetches {
			freq.Topics[0].Partitions[0].FetchOffset = int64(from+j) * 2 // two records a batch
			fetches[j] = &Request{Key: 1, Version: 12, Body: freq.AppendTo(nil)}
		}
	}
	answered := make(chan int, 1)
	fetched := func(resp kmsg.Response) {
		fr := resp.(*fetchResponse)
		n := 0
		for _, s := range fr.BodyVec() {
			n += len(s)
		}
		fr.ReleaseBody()
		answered <- n
	}
	b.ReportAllocs()
	cpu0 := processCPUNanos(b)
	i := 0
	for b.Loop() {
		if i%len(fetches) == 0 {
			b.StopTimer()
			encode(i)
			b.StartTimer()
		}
		if err := br.Handle(fetches[i%len(fetches)], fetched); err != nil { // parks at the log end
			b.Fatal(err)
		}
		if err := br.Handle(produce, produced); err != nil {
			b.Fatal(err)
		}
		if n := <-answered; n < len(pp.Records) {
			b.Fatalf("fetch answered %d bytes, want the batch", n)
		}
		i++
	}
	b.ReportMetric(float64(processCPUNanos(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPUNanos is the process's user+system CPU time.
func processCPUNanos(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// openBenchBroker opens a broker on a temporary directory with one topic
// "bench" of one partition; the benchmark's cleanup closes it.
func openBenchBroker(b *testing.B) *Broker {
	cfg := DefaultConfig()
	cfg.DataDir = b.TempDir()
	br, err := Open(cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = br.Close() })
	if _, kerrv := br.createTopicChecked("bench", 1, -1, nil, false); kerrv != nil {
		b.Fatal(kerrv)
	}
	return br
}
