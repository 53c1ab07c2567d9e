package benchmarks

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// SchemaVersion is the version of results.json and baseline.json (doc.go).
const SchemaVersion = 2

// Run is one scenario against one system in one round.
type Run struct {
	Scenario         string         `json:"scenario"`
	System           string         `json:"system"`
	Round            int            `json:"round"`
	Attempt          int            `json:"attempt"` // 0, or 1 for the gate's retry
	Durability       string         `json:"durability"`
	Records          int64          `json:"records"`
	Bytes            int64          `json:"bytes"`
	Errors           int64          `json:"errors"`
	Seconds          float64        `json:"seconds"`
	MsgPerSec        float64        `json:"msg_per_sec"`
	SteadyMsgPerSec  float64        `json:"steady_msg_per_sec"`
	MBPerSec         float64        `json:"mb_per_sec"`
	Latency          LatencySummary `json:"latency"`
	CPUSeconds       float64        `json:"cpu_seconds"`
	CPUSecPerMillion float64        `json:"cpu_sec_per_million"`
	// SteadyCPUSecPerMillion is the median over Intervals of their CPU-s
	// per million records.
	SteadyCPUSecPerMillion float64 `json:"steady_cpu_sec_per_million"`
	PeakRSSBytes           int64   `json:"peak_rss_bytes"`
	// Intervals are the window's sub-intervals, or with Sliced its slices.
	Intervals []Interval `json:"intervals"`
	Sliced    bool       `json:"sliced,omitempty"`
}

// Summary is the median over rounds of one scenario on one system.
type Summary struct {
	Scenario               string         `json:"scenario"`
	System                 string         `json:"system"`
	Rounds                 int            `json:"rounds"`
	Durability             string         `json:"durability"`
	MsgPerSec              float64        `json:"msg_per_sec"`
	SteadyMsgPerSec        float64        `json:"steady_msg_per_sec"`
	MBPerSec               float64        `json:"mb_per_sec"`
	Latency                LatencySummary `json:"latency"` // point-wise medians; count = sum
	CPUSecPerMillion       float64        `json:"cpu_sec_per_million"`
	SteadyCPUSecPerMillion float64        `json:"steady_cpu_sec_per_million"`
	PeakRSSBytes           int64          `json:"peak_rss_bytes"` // largest of the rounds
	Errors                 int64          `json:"errors"`         // sum over rounds
}

// RatioResult is one same-run ratio.
type RatioResult struct {
	Name           string    `json:"name"`
	Description    string    `json:"description"`
	Value          float64   `json:"value"`     // IQM of every pair ratio
	PerRound       []float64 `json:"per_round"` // IQM of each round's pair ratios
	Pairs          int       `json:"pairs"`     // pair ratios behind value
	HigherIsBetter bool      `json:"higher_is_better"`
	Gated          bool      `json:"gated"`     // part of the regression gate
	Scenarios      []string  `json:"scenarios"` // what to re-run to recompute it
}

// Host describes the machine a run was made on.
type Host struct {
	Hostname  string `json:"hostname"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	Kernel    string `json:"kernel"`
	LoadAvg   string `json:"loadavg_at_start"`
}

// Results is results.json.
type Results struct {
	Schema    int           `json:"schema"`
	Suite     string        `json:"suite"`
	Command   string        `json:"command"`
	Started   time.Time     `json:"started"`
	Finished  time.Time     `json:"finished"`
	Host      Host          `json:"host"`
	Rounds    int           `json:"rounds"`
	Scenarios []Scenario    `json:"scenarios"`
	Runs      []Run         `json:"runs"`
	Summaries []Summary     `json:"summaries"`
	Ratios    []RatioResult `json:"ratios"`
	Notes     []string      `json:"notes"`
	// Failover is the failover scenario's section (chronik-bench
	// failover); absent from the other suites.
	Failover *FailoverResult `json:"failover,omitempty"`
	// Restart is the restart scenario's section (chronik-bench restart).
	Restart *RestartResult `json:"restart,omitempty"`
	// Scale is the scale sweeps' section (chronik-bench scale, and the
	// short sweeps of chronik-bench bench).
	Scale *ScaleResult `json:"scale,omitempty"`
	// Cluster is the cluster lab's bandwidth and ISR-shrink section
	// (chronik-bench bench, bench --cluster-only).
	Cluster *ClusterResult `json:"cluster,omitempty"`
}

// minSteadyIntervals is the fewest intervals a steady figure is taken
// from; with fewer, the window's mean stands in.
const minSteadyIntervals = 4

// NewRun turns a measurement and the process figures into a Run.
func NewRun(sc Scenario, system string, round int, m Measurement, cpu float64, rss int64) Run {
	secs := m.Elapsed.Seconds()
	r := Run{Scenario: sc.Name, System: system, Round: round, Records: m.Records, Bytes: m.Bytes,
		Errors: m.Errors, Seconds: secs, Latency: summarizeLatency(m.Latency), CPUSeconds: cpu, PeakRSSBytes: rss,
		Intervals: m.Intervals}
	if secs > 0 {
		r.MsgPerSec = float64(m.Records) / secs
		r.MBPerSec = float64(m.Bytes) / secs / 1e6
	}
	if m.Records > 0 {
		r.CPUSecPerMillion = cpu / float64(m.Records) * 1e6
	}
	r.SteadyMsgPerSec, r.SteadyCPUSecPerMillion = r.MsgPerSec, r.CPUSecPerMillion
	var rates, costs []float64
	for _, iv := range m.Intervals {
		rates = append(rates, Ratio(float64(iv.Records), iv.Seconds))
		if iv.Records > 0 && iv.CPUSeconds > 0 {
			costs = append(costs, iv.CPUSeconds/float64(iv.Records)*1e6)
		}
	}
	if len(rates) >= minSteadyIntervals {
		r.SteadyMsgPerSec = Median(rates)
	}
	if len(costs) >= minSteadyIntervals {
		r.SteadyCPUSecPerMillion = Median(costs)
	}
	return r
}

// WriteJSON writes v as indented JSON to path.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
