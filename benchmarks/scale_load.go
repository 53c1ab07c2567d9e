package benchmarks

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// LoadSweep is the producers and record-size curves, Chronik and kfake
// taking turns at each point, and the box's own limits.
type LoadSweep struct {
	Workload string      `json:"workload"`
	Points   []LoadPoint `json:"points"`
	Limits   []Limit     `json:"limits"`
}

// LoadPoint is one producer count and record size at one acks.
type LoadPoint struct {
	Name        string       `json:"name"`
	Curve       string       `json:"curve"` // producers or record_bytes: which sweep it belongs to (the shared point: both)
	Producers   int          `json:"producers"`
	RecordBytes int          `json:"record_bytes"`
	Acks        int          `json:"acks"`
	Chronik     sliceFigures `json:"chronik"`
	Kfake       sliceFigures `json:"kfake"`
	KfakeMode   string       `json:"kfake_durability"`
	// MsgRatio is Chronik over kfake, the IQM of slice pairs.
	MsgRatio float64 `json:"msg_ratio"`
	CPURatio float64 `json:"cpu_ratio"`
	// Chronik's writes in the measured slices (its /metrics): bytes per
	// append (one pwrite of one batch) and per fdatasync.
	AppendBytes float64 `json:"append_bytes"`
	SyncBytes   float64 `json:"sync_bytes"`
	// The box's limits at Chronik's write size (Limits), and the fraction
	// of each Chronik's value bytes reach.
	DiskLimitMBPerSec     float64 `json:"disk_limit_mb_per_sec"`
	LoopbackLimitMBPerSec float64 `json:"loopback_limit_mb_per_sec"`
	DiskFraction          float64 `json:"disk_fraction"`
	LoopbackFraction      float64 `json:"loopback_fraction"`
	limits                []Limit // measured for this point (LoadSweep.Limits)
}

// Limit is one measurement of the box itself.
type Limit struct {
	Point      string  `json:"point"`       // the load point it was measured right after
	Kind       string  `json:"kind"`        // disk (pwrite + fdatasync) or loopback (TCP copy)
	WriteBytes int     `json:"write_bytes"` // per pwrite (each followed by fdatasync) or per socket write
	MBPerSec   float64 `json:"mb_per_sec"`  // 10^6 bytes
	OpsPerSec  float64 `json:"ops_per_sec"` // fdatasyncs or writes
	Seconds    float64 `json:"seconds"`
}

// Limit kinds.
const (
	LimitDisk     = "disk"
	LimitLoopback = "loopback"
)

// loadPoints lists the sweep's points: producers at the fixed record size,
// then record sizes at the fixed producer count (the shared point once),
// at each acks.
func loadPoints(cfg ScaleConfig) []Scenario {
	var out []Scenario
	for _, acks := range cfg.LoadAcks {
		add := func(producers, size int, curve string) {
			for i, sc := range out {
				if sc.Acks == acks && sc.Producers == producers && sc.RecordBytes == size {
					out[i].SliceGroup = "both"
					return
				}
			}
			sc := produceScenario(fmt.Sprintf("p%d-%s-acks%d", producers, sizeName(size), acks), acks, acks == -1, 0, 0)
			sc.Producers, sc.RecordBytes, sc.Partitions, sc.Warmup, sc.SliceGroup = producers, size, 4, 0, curve
			// A batch holds at least one record (1 MB records: one per batch;
			// message.max.bytes is 1 MiB + 12 on both brokers).
			sc.BatchBytes = int32(max(int(sc.BatchBytes), size+1024))
			sc.Slices = cfg.LoadSlices
			sc.Count = sliceCount(cfg, size, acks) * int64(cfg.LoadSlices)
			out = append(out, sc)
		}
		for _, p := range cfg.LoadProducers {
			add(p, cfg.LoadRecordBytesAt, "producers")
		}
		for _, s := range cfg.LoadRecordBytes {
			add(cfg.LoadProducersAt, s, "record_bytes")
		}
	}
	return out
}

// sliceCount is the records of one slice: about LoadSliceBytes of values,
// a quarter of it at acks=-1 (kfake fsyncs every batch), at least 8 and a
// multiple of nothing in particular.
func sliceCount(cfg ScaleConfig, size, acks int) int64 {
	b := cfg.LoadSliceBytes
	if acks == -1 {
		b /= 4
	}
	return max(b/int64(size), 8)
}

func sizeName(b int) string {
	switch {
	case b >= 1_000_000 && b%1_000_000 == 0:
		return fmt.Sprintf("%dMB", b/1_000_000)
	case b >= 1000 && b%1000 == 0:
		return fmt.Sprintf("%dKB", b/1000)
	}
	return fmt.Sprintf("%dB", b)
}

func runLoadSweep(ctx context.Context, peers Peers, cfg ScaleConfig, progress io.Writer) (*LoadSweep, error) {
	peers.AdminListen = true // Chronik's /metrics: its write sizes
	sw := &LoadSweep{Workload: "franz-go producers as fast as they go, linger 5 ms, 128 KiB batches (or one record plus 1 KiB), " +
		"4 partitions, kgo's default partitioner; Chronik and kfake (in memory at acks=1; data dir and SyncWrites at acks=-1) " +
		"started fresh for each point and taking turns slice by slice; right after a point's slices, a sync(2), then the disk " +
		"and loopback limits at its write size, each twice in turn (the larger kept)"}
	window := time.Duration(cfg.LimitWindow * float64(time.Second))
	for _, sc := range loadPoints(cfg) {
		pt, err := runLoadPoint(ctx, peers, sc, window, progress)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sc.Name, err)
		}
		sw.Points = append(sw.Points, pt)
		sw.Limits = append(sw.Limits, pt.limits...)
	}
	return sw, nil
}

func runLoadPoint(ctx context.Context, peers Peers, sc Scenario, limitWindow time.Duration, progress io.Writer) (LoadPoint, error) {
	pt := LoadPoint{Name: sc.Name, Curve: sc.SliceGroup, Producers: sc.Producers, RecordBytes: sc.RecordBytes, Acks: sc.Acks}
	r := Runner{Peers: peers}
	var arms []*arm
	defer func() {
		for _, a := range arms {
			a.close()
		}
	}()
	for _, sys := range []string{Chronik, Kfake} {
		a, err := r.startArm(ctx, sys, sc)
		if err != nil {
			return pt, err
		}
		arms = append(arms, a)
	}
	pt.KfakeMode = arms[1].pr.Durable
	var before map[string]float64
	slices, lats, err := takeTurns(ctx, arms, sc.Slices, progress, func(a *arm) string {
		return fmt.Sprintf("[%-18s %-7s]", a.sc.Name, a.system)
	}, func() (err error) {
		before, err = scrapeMetrics(ctx, arms[0].pr.AdminAddr)
		return err
	})
	if err != nil {
		return pt, err
	}
	after, err := scrapeMetrics(ctx, arms[0].pr.AdminAddr)
	if err != nil {
		return pt, err
	}
	pt.Chronik, pt.Kfake = figuresOf(slices[0], lats[0]), figuresOf(slices[1], lats[1])
	pt.MsgRatio = finite(pairRatio(pt.Chronik.Slices, pt.Kfake.Slices, sliceMsgs))
	pt.CPURatio = finite(pairRatio(pt.Chronik.Slices, pt.Kfake.Slices, sliceCPUPM))
	bytes := after["chronik_wal_appended_bytes_total"] - before["chronik_wal_appended_bytes_total"]
	pt.AppendBytes = finite(Ratio(bytes, after["chronik_wal_appends_total"]-before["chronik_wal_appends_total"]))
	pt.SyncBytes = finite(Ratio(bytes, after["chronik_wal_syncs_total"]-before["chronik_wal_syncs_total"]))
	if size := pow2(limitWriteBytes(pt)); size > 0 {
		if pt.limits, err = measureLimits(ctx, peers.WorkDir, size, limitWindow, sc.Name, progress); err != nil {
			return pt, err
		}
		applyLimits(&pt, pt.limits)
	}
	return pt, nil
}

// limitWriteBytes is the bytes Chronik wrote per fdatasync at acks=-1, or
// per pwrite at acks=1.
func limitWriteBytes(p LoadPoint) float64 {
	if p.Acks == -1 && p.SyncBytes > 0 {
		return p.SyncBytes
	}
	return p.AppendBytes
}

// pow2 rounds b to the nearest power of two (in log scale), at least 4 KiB
// and at most 64 MiB; 0 for no size.
func pow2(b float64) int {
	if b <= 0 || math.IsNaN(b) || math.IsInf(b, 0) {
		return 0
	}
	e := math.Round(math.Log2(b))
	return 1 << int(min(max(e, 12), 26))
}

func applyLimits(p *LoadPoint, limits []Limit) {
	s := pow2(limitWriteBytes(*p))
	for _, l := range limits {
		if l.WriteBytes != s {
			continue
		}
		switch l.Kind {
		case LimitDisk:
			p.DiskLimitMBPerSec = l.MBPerSec
		case LimitLoopback:
			p.LoopbackLimitMBPerSec = l.MBPerSec
		}
	}
	if p.Acks == -1 { // at acks=1 Chronik does not wait for fdatasync
		p.DiskFraction = finite(Ratio(p.Chronik.MBPerSec, p.DiskLimitMBPerSec))
	}
	p.LoopbackFraction = finite(Ratio(p.Chronik.MBPerSec, p.LoopbackLimitMBPerSec))
}

// limitRepeats is how many times each limit is measured in turn; the
// largest is the limit (other work on the box only lowers it).
const limitRepeats = 2

// measureLimits syncs what the brokers left dirty, then measures the disk
// and loopback limits at size, limitRepeats times each in turn, window
// split between them, and keeps the largest of each.
func measureLimits(ctx context.Context, dir string, size int, window time.Duration, point string, progress io.Writer) ([]Limit, error) {
	unix.Sync()
	each := window / limitRepeats
	var best [2]Limit
	for r := 0; r < limitRepeats; r++ {
		d, err := diskLimit(ctx, dir, size, each)
		if err != nil {
			return nil, err
		}
		l, err := loopbackLimit(ctx, size, each)
		if err != nil {
			return nil, err
		}
		if d.MBPerSec > best[0].MBPerSec {
			best[0] = d
		}
		if l.MBPerSec > best[1].MBPerSec {
			best[1] = l
		}
	}
	best[0].Point, best[1].Point = point, point
	fmt.Fprintf(progress, "[%-18s limits %8d B] disk pwrite+fdatasync %7.1f MB/s (%5.0f fdatasync/s); loopback %7.1f MB/s\n",
		point, size, best[0].MBPerSec, best[0].OpsPerSec, best[1].MBPerSec)
	return best[:], nil
}

// diskLimitFileBytes is the file the disk loop writes around in, reserved
// with fallocate first as Chronik's segments are.
const diskLimitFileBytes = 256 << 20

// diskLimit writes size bytes at a time into a preallocated file in dir
// (the brokers' file system), each pwrite followed by fdatasync, for
// window (at least 8 writes), wrapping around at the end of the file.
func diskLimit(ctx context.Context, dir string, size int, window time.Duration) (Limit, error) {
	l := Limit{Kind: LimitDisk, WriteBytes: size}
	path := filepath.Join(dir, "disk-limit.tmp")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return l, err
	}
	defer os.Remove(path)
	defer f.Close()
	fileBytes := max(int64(diskLimitFileBytes), int64(size)*8)
	if err := unix.Fallocate(int(f.Fd()), 0, 0, fileBytes); err != nil {
		return l, fmt.Errorf("fallocate: %w", err)
	}
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i*7 + 1)
	}
	var off, written int64
	ops := 0
	start := time.Now()
	for ops < 8 || time.Since(start) < window {
		if ctx.Err() != nil {
			return l, ctx.Err()
		}
		if off+int64(size) > fileBytes {
			off = 0
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			return l, err
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return l, err
		}
		off += int64(size)
		written += int64(size)
		ops++
	}
	l.Seconds = time.Since(start).Seconds()
	l.MBPerSec = float64(written) / l.Seconds / 1e6
	l.OpsPerSec = float64(ops) / l.Seconds
	return l, nil
}

// loopbackLimit copies size-byte writes over one 127.0.0.1 TCP connection
// to a reader that discards them, for window.
func loopbackLimit(ctx context.Context, size int, window time.Duration) (Limit, error) {
	l := Limit{Kind: LimitLoopback, WriteBytes: size}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return l, err
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		n, _ := io.CopyBuffer(io.Discard, c, make([]byte, max(size, 64<<10)))
		got <- n
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return l, err
	}
	buf := make([]byte, size)
	ops := 0
	start := time.Now()
	for ops < 8 || time.Since(start) < window {
		if ctx.Err() != nil {
			c.Close()
			return l, ctx.Err()
		}
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return l, err
		}
		ops++
	}
	c.Close()
	n := <-got
	l.Seconds = time.Since(start).Seconds()
	if n < 0 {
		return l, fmt.Errorf("loopback reader failed")
	}
	l.MBPerSec = float64(n) / l.Seconds / 1e6
	l.OpsPerSec = float64(ops) / l.Seconds
	return l, nil
}

// finite is x, or 0 for NaN and infinities (JSON has neither).
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}
