package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"
)

// Runner runs suites: every scenario against every system, in interleaved
// rounds, one fresh broker process per run.
type Runner struct {
	Peers    Peers
	Systems  []string  // default {Chronik, Kfake}
	Progress io.Writer // live progress lines; nil for none
	Log      *slog.Logger
}

// systemsFor are the systems sc runs on: its own, else the runner's.
func (r Runner) systemsFor(sc Scenario) []string {
	if len(sc.Systems) > 0 {
		return sc.Systems
	}
	return r.systems()
}

func (r Runner) systems() []string {
	if len(r.Systems) > 0 {
		return r.Systems
	}
	return []string{Chronik, Kfake}
}

// RunSuite runs suite and returns its results with summaries and ratios.
func (r Runner) RunSuite(ctx context.Context, suite Suite) (*Results, error) {
	res := &Results{Schema: SchemaVersion, Suite: suite.Name, Started: time.Now().UTC(), Host: HostInfo(),
		Rounds: suite.Rounds, Scenarios: suite.Scenarios, Command: strings.Join(os.Args, " ")}
	for _, sc := range suite.Scenarios {
		if err := sc.Validate(); err != nil {
			return nil, err
		}
	}
	runs, err := r.runRounds(ctx, suite.Scenarios, suite.Rounds, 0)
	if err != nil {
		return nil, err
	}
	res.Runs = runs
	res.Finish()
	return res, nil
}

// Finish recomputes summaries and ratios from Runs.
func (res *Results) Finish() {
	res.Finished = time.Now().UTC()
	res.Summaries = Summarize(res.Runs)
	res.Ratios = ComputeRatios(res.Runs)
}

// runRounds interleaves: in round k, each scenario runs on every system
// back to back, the order of systems alternating with k and the scenario's
// index so neither system always goes first; a slice group runs as one
// (runSliced).
func (r Runner) runRounds(ctx context.Context, scs []Scenario, rounds, attempt int) ([]Run, error) {
	var runs []Run
	for round := 0; round < rounds; round++ {
		for i, unit := range units(scs) {
			got, err := r.runUnit(ctx, unit, round, i)
			if err != nil {
				return nil, fmt.Errorf("round %d %s: %w", round, unit[0].Name, err)
			}
			for _, run := range got {
				run.Attempt = attempt
				runs = append(runs, run)
			}
		}
	}
	return runs, nil
}

func (r Runner) runUnit(ctx context.Context, unit []Scenario, round, i int) ([]Run, error) {
	if unit[0].Slices > 0 {
		return r.runSliced(ctx, unit, round)
	}
	sc := unit[0]
	systems := append([]string{}, r.systemsFor(sc)...)
	if (round+i)%2 == 1 {
		for a, b := 0, len(systems)-1; a < b; a, b = a+1, b-1 {
			systems[a], systems[b] = systems[b], systems[a]
		}
	}
	var runs []Run
	for _, sys := range systems {
		run, err := r.RunOne(ctx, sys, sc, round)
		if err != nil {
			return nil, fmt.Errorf("on %s: %w", sys, err)
		}
		runs = append(runs, run)
	}
	return runs, nil
}

// RunOne starts a fresh system, runs sc against it once and stops it. CPU
// seconds are those the broker process used inside the measured window.
func (r Runner) RunOne(ctx context.Context, system string, sc Scenario, round int) (Run, error) {
	pr, err := r.Peers.Start(ctx, system, sc)
	if err != nil {
		return Run{}, err
	}
	defer pr.Stop()
	var before, after ProcStats
	var errBefore, errAfter error
	w := Window{
		Start: func() { before, errBefore = pr.Stats() },
		End:   func() { after, errAfter = pr.Stats() },
		CPU:   pr.CPUSeconds,
	}
	label := fmt.Sprintf("[r%d %-14s %-7s]", round+1, sc.Name, system)
	m, err := runWorkloadRF(ctx, pr.Addr, pr.RF, sc, w, r.Progress, label)
	if err == nil {
		err = errors.Join(errBefore, errAfter)
	}
	if err == nil && m.Records == 0 {
		err = errors.New("no records measured")
	}
	if err != nil {
		return Run{}, fmt.Errorf("%w\n%s", err, pr.logTail())
	}
	run := NewRun(sc, system, round, m, after.CPUSeconds-before.CPUSeconds, after.PeakRSSBytes)
	run.Durability = pr.Durable
	r.logRun(run)
	return run, nil
}

func (r Runner) logRun(run Run) {
	if r.Log != nil {
		r.Log.Info("run", "round", run.Round+1, "scenario", run.Scenario, "system", run.System, "msg_per_sec", int64(run.MsgPerSec),
			"p99_ms", run.Latency.P99Ms, "cpu_s_per_M", fmt.Sprintf("%.3f", run.CPUSecPerMillion), "errors", run.Errors)
	}
}

func (r Runner) progressf(format string, args ...any) {
	if r.Progress != nil {
		fmt.Fprintf(r.Progress, format, args...)
	}
}

// HostInfo describes this machine for results.json.
func HostInfo() Host {
	h := Host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	h.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		h.LoadAvg = strings.TrimSpace(string(b))
	}
	return h
}
