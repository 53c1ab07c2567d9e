package benchmarks

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The scale sweeps (`chronik-bench scale`, make bench-scale; issue 15's
// "cost as the work grows"): one dimension of the load grows at a time on
// one broker, and each curve is read against its own first (or reference)
// point measured in the same run, alternating with it where the load
// allows. doc.go has the results.json section.

// ScaleConfig says which sweeps run and how long each point is.
type ScaleConfig struct {
	Sweeps []string `json:"sweeps"` // partitions, connections, load (producers and record sizes), limits

	// Partitions sweep: one broker per count, all running together; the
	// load takes turns between them, PartitionSlices slices of
	// PartitionSliceRecords records each.
	PartitionCounts       []int `json:"partition_counts"`
	PartitionReference    int   `json:"partition_reference"` // the point CPU per record is compared with (4)
	PartitionSlices       int   `json:"partition_slices"`
	PartitionSliceRecords int64 `json:"partition_slice_records"`

	// Connections sweep: idle connections grow, then shrink again, on one
	// broker per round, while ConnBusyProducers producers write; at each
	// step ConnSlices throughput slices of ConnSliceRecords records and a
	// latency window of ConnLatencyWindow at ConnLatencyRate records/s.
	ConnCounts        []int         `json:"conn_counts"`
	ConnRounds        int           `json:"conn_rounds"`
	ConnBusyProducers int           `json:"conn_busy_producers"`
	ConnSlices        int           `json:"conn_slices"`
	ConnSliceRecords  int64         `json:"conn_slice_records"`
	ConnLatencyRate   int           `json:"conn_latency_rate"`
	ConnLatencyWindow time.Duration `json:"conn_latency_window_ns"`

	// Load sweep: producers at LoadRecordBytesAt record bytes, and record
	// sizes at LoadProducersAt producers, Chronik and kfake taking turns,
	// LoadSlices slices of about LoadSliceBytes value bytes each, at each
	// of LoadAcks.
	LoadProducers     []int   `json:"load_producers"`
	LoadRecordBytes   []int   `json:"load_record_bytes"`
	LoadProducersAt   int     `json:"load_producers_at"`
	LoadRecordBytesAt int     `json:"load_record_bytes_at"`
	LoadAcks          []int   `json:"load_acks"`
	LoadSlices        int     `json:"load_slices"`
	LoadSliceBytes    int64   `json:"load_slice_bytes"`
	LimitWindow       float64 `json:"limit_window_s"` // seconds per limit measurement
}

// DefaultScaleConfig is what `make bench-scale` runs (about 6-8 minutes
// on the 2-core reference box).
func DefaultScaleConfig() ScaleConfig {
	return ScaleConfig{
		Sweeps:          []string{SweepPartitions, SweepConnections, SweepLoad},
		PartitionCounts: []int{1, 4, 10, 100, 1000, 5000, 10000}, PartitionReference: 4,
		PartitionSlices: 6, PartitionSliceRecords: 200_000,
		ConnCounts: []int{1, 100, 1000, 5000}, ConnRounds: 2, ConnBusyProducers: 2, ConnSlices: 3,
		ConnSliceRecords: 200_000, ConnLatencyRate: 5000, ConnLatencyWindow: 1500 * time.Millisecond,
		LoadProducers: []int{1, 4, 16, 64}, LoadRecordBytes: []int{100, 1000, 1_000_000},
		LoadProducersAt: 4, LoadRecordBytesAt: 1000, LoadAcks: []int{1, -1},
		LoadSlices: 4, LoadSliceBytes: 24 << 20, LimitWindow: 1,
	}
}

// The sweeps.
const (
	SweepPartitions  = "partitions"
	SweepConnections = "connections"
	SweepLoad        = "load" // producers and record sizes, against kfake and the box's limits
)

// ScaleResult is results.json's "scale" section.
type ScaleResult struct {
	Config      ScaleConfig        `json:"config"`
	Partitions  *PartitionSweep    `json:"partitions,omitempty"`
	Connections *ConnSweep         `json:"connections,omitempty"`
	Load        *LoadSweep         `json:"load,omitempty"`
	WallSeconds map[string]float64 `json:"wall_seconds"` // per sweep
	NoFile      NoFileLimit        `json:"nofile"`
	// Goals are issue 15's goals judged from the figures (ScaleGoals).
	Goals []ScaleGoal `json:"goals"`
}

// NoFileLimit is RLIMIT_NOFILE of the bench process, which the brokers it
// starts inherit (the Go runtime of each raises its soft limit to the hard).
type NoFileLimit struct {
	Soft   uint64 `json:"soft"`
	Hard   uint64 `json:"hard"`
	Raised bool   `json:"raised"` // the bench raised it (needs CAP_SYS_RESOURCE above the hard limit)
	Note   string `json:"note,omitempty"`
}

// raiseNoFile lifts RLIMIT_NOFILE to want (soft and hard) if it can, else
// the soft limit to the hard one.
func raiseNoFile(want uint64) NoFileLimit {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return NoFileLimit{Note: err.Error()}
	}
	out := NoFileLimit{Soft: rl.Cur, Hard: rl.Max}
	if rl.Max < want {
		up := unix.Rlimit{Cur: want, Max: want}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &up); err == nil {
			return NoFileLimit{Soft: want, Hard: want, Raised: true}
		} else {
			out.Note = fmt.Sprintf("could not raise the hard limit %d to %d: %v", rl.Max, want, err)
		}
	}
	if rl.Cur < rl.Max {
		up := unix.Rlimit{Cur: rl.Max, Max: rl.Max}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &up); err == nil {
			out.Soft, out.Raised = rl.Max, true
		}
	}
	return out
}

// RunScale runs cfg's sweeps with peers (Chronik and kfake as processes).
func RunScale(ctx context.Context, peers Peers, cfg ScaleConfig, progress io.Writer) (*ScaleResult, error) {
	res := &ScaleResult{Config: cfg, WallSeconds: map[string]float64{}, NoFile: raiseNoFile(1 << 20)}
	for _, sw := range cfg.Sweeps {
		start := time.Now()
		var err error
		switch sw {
		case SweepPartitions:
			res.Partitions, err = runPartitionSweep(ctx, peers, cfg, progress)
		case SweepConnections:
			res.Connections, err = runConnSweep(ctx, peers, cfg, progress)
		case SweepLoad:
			res.Load, err = runLoadSweep(ctx, peers, cfg, progress)
		default:
			err = fmt.Errorf("unknown sweep %q (have %s, %s, %s)", sw, SweepPartitions, SweepConnections, SweepLoad)
		}
		if err != nil {
			return nil, fmt.Errorf("%s sweep: %w", sw, err)
		}
		res.WallSeconds[sw] = time.Since(start).Seconds()
		fmt.Fprintf(progress, "== %s sweep: %.0f s\n", sw, res.WallSeconds[sw])
	}
	res.Goals = ScaleGoals(res)
	return res, nil
}

// ProcFootprint is what a broker process holds at one moment.
type ProcFootprint struct {
	RSSBytes  int64 `json:"rss_bytes"`  // VmRSS
	AnonBytes int64 `json:"anon_bytes"` // RssAnon: heap, stacks (not mapped files)
	OpenFiles int   `json:"open_files"` // entries of /proc/<pid>/fd (files, sockets, epoll, ...)
	Maps      int   `json:"maps"`       // lines of /proc/<pid>/maps (vm.max_map_count bounds them)
	DiskBytes int64 `json:"disk_bytes"` // allocated blocks under the data directory (st_blocks * 512)
}

// footprint reads pid's figures and the disk used under dataDir.
func footprint(pid int, dataDir string) (ProcFootprint, error) {
	var f ProcFootprint
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return f, err
	}
	if f.RSSBytes, err = statusKB(status, "VmRSS"); err != nil {
		return f, err
	}
	if f.AnonBytes, err = statusKB(status, "RssAnon"); err != nil {
		return f, err
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return f, err
	}
	f.OpenFiles = len(fds)
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return f, err
	}
	f.Maps = strings.Count(string(maps), "\n")
	if dataDir != "" {
		f.DiskBytes, err = diskUsed(dataDir)
	}
	return f, err
}

// diskUsed sums the allocated blocks of everything under dir (du, not
// apparent sizes: sparse index files and preallocated tails count as the
// blocks they hold).
func diskUsed(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // removed while walking (a temporary file)
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
		return nil
	})
	return total, err
}

// brokerNoFile reads the "Max open files" soft limit of a running process.
func brokerNoFile(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, err
	}
	return parseLimitsNoFile(b)
}

// parseLimitsNoFile finds the soft "Max open files" in /proc/<pid>/limits.
func parseLimitsNoFile(limits []byte) (int, error) {
	for _, line := range strings.Split(string(limits), "\n") {
		rest, ok := strings.CutPrefix(line, "Max open files")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 1 {
			break
		}
		return strconv.Atoi(f[0])
	}
	return 0, fmt.Errorf("no 'Max open files' in limits")
}

// dataDir is where a Chronik Proc keeps its logs (chronikArgs).
func (pr *Proc) dataDir() string { return filepath.Join(pr.dir, "data") }

// restartChronik stops pr with SIGTERM (its data stays), starts the same
// broker again on the same port and data directory, and returns when it was
// exec'd and the time from then to the first answered Metadata.
func (p Peers) restartChronik(ctx context.Context, pr *Proc, sc Scenario) (time.Time, time.Duration, error) {
	pr.terminate(30 * time.Second)
	args, err := p.chronikArgs(pr, sc)
	if err != nil {
		return time.Time{}, 0, err
	}
	start := time.Now()
	if err := pr.launch(args); err != nil {
		pr.cmd = nil
		return start, 0, err
	}
	if err := pr.waitReady(ctx); err != nil {
		return start, 0, fmt.Errorf("restart: %w\n%s", err, pr.logTail())
	}
	return start, time.Since(start), nil
}

// scrapeMetrics reads a Chronik admin listener's /metrics.
func scrapeMetrics(ctx context.Context, adminAddr string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return parseMetrics(string(body)), nil
}

// parseMetrics reads Prometheus text: "name value" and
// "name{labels} value" lines, keyed by everything before the value.
func parseMetrics(text string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[strings.TrimSpace(line[:i])] = v
		}
	}
	return out
}

// takeTurns runs slices of every arm in turns (A B C, C B A, ...) after one
// warm-up slice each, and returns each arm's slices and latencies.
// measuring, when set, runs between the warm-up and the measured slices
// (e.g. a metrics scrape).
func takeTurns(ctx context.Context, arms []*arm, slices int, progress io.Writer, label func(*arm) string,
	measuring func() error) ([][]sliceResult, []*latencyRec, error) {
	lats := make([]*latencyRec, len(arms))
	out := make([][]sliceResult, len(arms))
	for i, a := range arms {
		lats[i] = newLatencyRec()
		if _, err := a.slice(ctx, newLatencyRec()); err != nil {
			return nil, nil, a.fail("warm-up slice", err)
		}
	}
	if measuring != nil {
		if err := measuring(); err != nil {
			return nil, nil, err
		}
	}
	for k := 0; k < slices; k++ {
		for _, i := range sliceOrder(len(arms), k) {
			a := arms[i]
			s, err := a.slice(ctx, lats[i])
			if err != nil {
				return nil, nil, a.fail(fmt.Sprintf("slice %d", k+1), err)
			}
			out[i] = append(out[i], s)
			if progress != nil {
				fmt.Fprintf(progress, "%s slice %d/%d %10.0f msg/s %8.3f CPU-s/M\n", label(a), k+1, slices,
					sliceMsgs(s.iv), s.iv.CPUSeconds/float64(max(s.iv.Records, 1))*1e6)
			}
		}
	}
	return out, lats, nil
}

// sliceFigures are medians over an arm's slices.
type sliceFigures struct {
	MsgPerSec        float64    `json:"msg_per_sec"`
	MBPerSec         float64    `json:"mb_per_sec"` // value bytes, 10^6
	CPUSecPerMillion float64    `json:"cpu_sec_per_million"`
	P50Ms            float64    `json:"p50_ms"` // produce call -> acknowledgement, every slice
	P99Ms            float64    `json:"p99_ms"`
	Slices           []Interval `json:"slices"`
}

func figuresOf(slices []sliceResult, lat *latencyRec) sliceFigures {
	var f sliceFigures
	var rates, mbs, cpus []float64
	for _, s := range slices {
		rates = append(rates, sliceMsgs(s.iv))
		mbs = append(mbs, Ratio(float64(s.bytes), s.iv.Seconds)/1e6)
		cpus = append(cpus, sliceCPUPM(s.iv))
		f.Slices = append(f.Slices, s.iv)
	}
	f.MsgPerSec, f.MBPerSec, f.CPUSecPerMillion = finite(Median(rates)), finite(Median(mbs)), finite(Median(cpus))
	if lat != nil {
		l := summarizeLatency(lat.h)
		f.P50Ms, f.P99Ms = l.P50Ms, l.P99Ms
	}
	return f
}

// pairRatio is the IQM of slice k of num over slice k of den under f.
func pairRatio(num, den []Interval, f func(Interval) float64) float64 {
	var rs []float64
	for k := 0; k < len(num) && k < len(den); k++ {
		rs = append(rs, Ratio(f(num[k]), f(den[k])))
	}
	return IQM(rs)
}
