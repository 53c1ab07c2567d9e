package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"
)

// DefaultTolerance is how far a gated ratio may fall below its baseline
// (or rise above it, for lower-is-better ratios) before the gate fails,
// unless its own spread asks for more (NoiseTolerance).
const DefaultTolerance = 0.075

// Baseline is benchmarks/baseline.json: same-run ratios from a real run on
// the reference machine.
type Baseline struct {
	Schema    int                      `json:"schema"`
	Created   time.Time                `json:"created"`
	Command   string                   `json:"command"`
	Host      Host                     `json:"host"`
	Suite     string                   `json:"suite"`
	Rounds    int                      `json:"rounds"`
	Tolerance float64                  `json:"tolerance"` // default for every ratio
	Ratios    map[string]BaselineRatio `json:"ratios"`
	// Figures are the medians behind the ratios, by "scenario/system", so
	// that a failing gate can say which side moved.
	Figures map[string]Figure `json:"figures"`
	// Kept, after a partial re-recording, is the earlier recording whose
	// other ratios the file kept.
	Kept []KeptRecording `json:"kept,omitempty"`
}

// BaselineRatio is one gated ratio of the baseline.
type BaselineRatio struct {
	Value          float64   `json:"value"`
	PerRound       []float64 `json:"per_round"`
	HigherIsBetter bool      `json:"higher_is_better"`
	// Tolerance, when set, overrides the baseline's default for this ratio.
	Tolerance float64 `json:"tolerance,omitempty"`
	// Spread is the relative standard deviation of the gate's value for
	// this ratio against the baseline's, estimated from PerRound
	// (NoiseTolerance); Detects = tolerance + 1.645 * Spread is the
	// smallest change the gate catches 19 times in 20 by that estimate.
	Spread      float64 `json:"spread"`
	Detects     float64 `json:"detects"`
	Description string  `json:"description"`
}

// Figure is one scenario on one system: medians over rounds.
type Figure struct {
	MsgPerSec        float64 `json:"msg_per_sec"`
	CPUSecPerMillion float64 `json:"cpu_sec_per_million"`
	P50Ms            float64 `json:"p50_ms,omitempty"` // latency: e2e send -> receive, produce -> ack
	P99Ms            float64 `json:"p99_ms,omitempty"`
}

func figureOf(s Summary) Figure {
	return Figure{MsgPerSec: s.MsgPerSec, CPUSecPerMillion: s.CPUSecPerMillion, P50Ms: s.Latency.P50Ms, P99Ms: s.Latency.P99Ms}
}

// Noise tolerances: a ratio's tolerance is at least NoiseZ standard
// deviations of the difference between the gate's value and the
// baseline's, rounded up to 2.5%, at most MaxNoiseTolerance.
const (
	NoiseZ            = 3.0
	MaxNoiseTolerance = 0.5
)

// NoiseSpread is the relative standard deviation of (gate value / baseline
// value) for a ratio whose per-round values on the reference machine were
// perRound, in the order they ran: the square root of w^2 + b^2, where w
// is the robust standard deviation (1.4826 median absolute deviations) of
// the log IQM of every gateRounds consecutive rounds, and b the baseline's
// own, sigma/sqrt(len(perRound)) with sigma that of single rounds. Windows
// of consecutive rounds, not sigma/sqrt(gateRounds), because the rounds of
// one gate run share the machine's mood: the load other work puts on it
// changes over minutes, not from round to round.
func NoiseSpread(perRound []float64, gateRounds int) float64 {
	var logs []float64
	for _, x := range perRound {
		if x > 0 {
			logs = append(logs, math.Log(x))
		}
	}
	if len(logs) < max(gateRounds, 2)+1 || gateRounds < 1 {
		return math.NaN()
	}
	var windows []float64
	for i := 0; i+gateRounds <= len(logs); i++ {
		windows = append(windows, math.Log(IQM(expAll(logs[i:i+gateRounds]))))
	}
	w, sigma := robustSD(windows), robustSD(logs)
	b := sigma / math.Sqrt(float64(len(logs)))
	return math.Sqrt(w*w + b*b)
}

func expAll(logs []float64) []float64 {
	out := make([]float64, len(logs))
	for i, l := range logs {
		out[i] = math.Exp(l)
	}
	return out
}

// robustSD is 1.4826 median absolute deviations from the median: the
// standard deviation for normal data, and little moved by outliers.
func robustSD(xs []float64) float64 {
	med := Median(xs)
	var dev []float64
	for _, x := range xs {
		dev = append(dev, math.Abs(x-med))
	}
	return 1.4826 * Median(dev)
}

// NoiseTolerance is the tolerance a ratio with that spread needs so that
// noise alone seldom fails it: NoiseZ spreads rounded up to 2.5%, at least
// floor, at most MaxNoiseTolerance (or floor, if larger).
func NoiseTolerance(spread, floor float64) float64 {
	if math.IsNaN(spread) {
		return floor
	}
	t := math.Ceil(NoiseZ*spread*40-1e-9) / 40
	return math.Min(math.Max(t, floor), math.Max(MaxNoiseTolerance, floor))
}

// NewBaseline takes the gated ratios of res, for a gate of gateRounds
// rounds. With widen, each ratio whose spread needs more than tolerance
// gets its own NoiseTolerance; a ratio with a minTolerance (ratioSpecs)
// gets at least that.
func NewBaseline(res *Results, tolerance float64, gateRounds int, widen bool) Baseline {
	b := Baseline{Schema: SchemaVersion, Created: res.Finished, Command: res.Command, Host: res.Host,
		Suite: res.Suite, Rounds: res.Rounds, Tolerance: tolerance, Ratios: map[string]BaselineRatio{},
		Figures: figures(res)}
	for _, r := range res.Ratios {
		if !r.Gated {
			continue
		}
		br := BaselineRatio{Value: r.Value, PerRound: r.PerRound, HigherIsBetter: r.HigherIsBetter, Description: r.Description}
		spread := NoiseSpread(r.PerRound, gateRounds)
		floor := tolerance
		if spec, ok := specOf(r.Name); ok {
			floor = math.Max(floor, spec.minTolerance)
		}
		tol := floor
		if t := NoiseTolerance(spread, floor); widen && t > floor {
			tol = t
		}
		if tol > tolerance {
			br.Tolerance = tol
		}
		if !math.IsNaN(spread) {
			br.Spread, br.Detects = spread, tol+1.645*spread
		}
		b.Ratios[r.Name] = br
	}
	return b
}

// MergeBaseline is old with the ratios and figures of part (a recording
// of some of the gate's scenarios) put in place of old's, the rest kept;
// its header (created, command, host, rounds) is part's, and Partial
// lists what each kept ratio's recording was.
func MergeBaseline(old, part Baseline) Baseline {
	m := part
	m.Ratios, m.Figures = map[string]BaselineRatio{}, map[string]Figure{}
	for k, v := range old.Ratios {
		m.Ratios[k] = v
	}
	for k, v := range old.Figures {
		m.Figures[k] = v
	}
	for k, v := range part.Ratios {
		m.Ratios[k] = v
	}
	for k, v := range part.Figures {
		m.Figures[k] = v
	}
	// Each kept ratio stays attributed to the recording it came from.
	from := map[string]int{} // ratio -> index in old.Kept
	for i, k := range old.Kept {
		for _, n := range k.Ratios {
			from[n] = i
		}
	}
	own := KeptRecording{Created: old.Created, Command: old.Command, Host: old.Host, Rounds: old.Rounds}
	kept := make([]KeptRecording, len(old.Kept))
	for i, k := range old.Kept {
		kept[i] = k
		kept[i].Ratios = nil
	}
	for name := range old.Ratios {
		if _, ok := part.Ratios[name]; ok {
			continue
		}
		if i, ok := from[name]; ok {
			kept[i].Ratios = append(kept[i].Ratios, name)
		} else {
			own.Ratios = append(own.Ratios, name)
		}
	}
	for _, k := range append(kept, own) {
		if len(k.Ratios) > 0 {
			sort.Strings(k.Ratios)
			m.Kept = append(m.Kept, k)
		}
	}
	return m
}

// KeptRecording is an earlier recording whose ratios a partial
// re-recording (gate --write-baseline --scenarios) kept.
type KeptRecording struct {
	Created time.Time `json:"created"`
	Command string    `json:"command"`
	Host    Host      `json:"host"`
	Rounds  int       `json:"rounds"`
	Ratios  []string  `json:"ratios"` // kept from it
}

func figures(res *Results) map[string]Figure {
	out := map[string]Figure{}
	for _, s := range res.Summaries {
		out[s.Scenario+"/"+s.System] = figureOf(s)
	}
	return out
}

// LoadBaseline reads a baseline file.
func LoadBaseline(path string) (Baseline, error) {
	var b Baseline
	data, err := os.ReadFile(path)
	if err != nil {
		return b, fmt.Errorf("read baseline: %w", err)
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return b, fmt.Errorf("parse baseline %s: %w", path, err)
	}
	if b.Schema != SchemaVersion || len(b.Ratios) == 0 {
		return b, fmt.Errorf("baseline %s: schema %d with %d ratios, want schema %d with ratios (record a new one: README, Benchmarks)",
			path, b.Schema, len(b.Ratios), SchemaVersion)
	}
	return b, nil
}

// GateRow is the verdict on one ratio.
type GateRow struct {
	Name           string
	Baseline       float64
	Current        float64
	Limit          float64 // the worst value still accepted
	Tolerance      float64
	HigherIsBetter bool
	Pass           bool
	Reason         string
	Scenarios      []string // what to re-run to measure it again
	Pairs          int      // pair ratios behind Current
	// Sides are the ratio's numerator and denominator figures, this run
	// against the baseline's.
	Sides []Side
	// Budget: an absolute limit (ClusterGate), not a ratio; Baseline is
	// the budget.
	Budget bool
}

// Side is one figure behind a ratio.
type Side struct {
	Label             string // "chronik produce-acks1"
	Current, Baseline float64
	Unit              string
	HigherIsBetter    bool
}

// Compare judges every baseline ratio whose scenarios res ran. tolerance >
// 0 overrides the baseline's (default and per-ratio).
func Compare(b Baseline, res *Results, tolerance float64) []GateRow {
	cur := map[string]RatioResult{}
	for _, r := range res.Ratios {
		cur[r.Name] = r
	}
	ran := map[string]bool{}
	for _, sc := range res.Scenarios {
		ran[sc.Name] = true
	}
	names := make([]string, 0, len(b.Ratios))
	for n := range b.Ratios {
		if spec, ok := specOf(n); !ok || ran[spec.numSc] && ran[spec.denSc] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var rows []GateRow
	for _, n := range names {
		row := judge(n, b.Ratios[n], cur, pickTolerance(b, b.Ratios[n], tolerance))
		row.Sides = sides(n, b, res)
		rows = append(rows, row)
	}
	return rows
}

func specOf(name string) (ratioSpec, bool) {
	for _, s := range ratioSpecs {
		if s.name == name {
			return s, true
		}
	}
	return ratioSpec{}, false
}

// sides are the numerator's and denominator's medians in res and b.
func sides(name string, b Baseline, res *Results) []Side {
	spec, ok := specOf(name)
	if !ok {
		return nil
	}
	var out []Side
	for _, sd := range [][2]string{{spec.numSc, spec.numSys}, {spec.denSc, spec.denSys}} {
		var now Figure
		for _, s := range res.Summaries {
			if s.Scenario == sd[0] && s.System == sd[1] {
				now = figureOf(s)
			}
		}
		base := b.Figures[sd[0]+"/"+sd[1]]
		out = append(out, Side{Label: sd[1] + " " + sd[0], Current: spec.m.figure(now), Baseline: spec.m.figure(base),
			Unit: spec.m.unit, HigherIsBetter: spec.m.higherIsBetter})
	}
	return out
}

func pickTolerance(b Baseline, r BaselineRatio, override float64) float64 {
	switch {
	case override > 0:
		return override
	case r.Tolerance > 0:
		return r.Tolerance
	case b.Tolerance > 0:
		return b.Tolerance
	}
	return DefaultTolerance
}

func judge(name string, base BaselineRatio, cur map[string]RatioResult, tol float64) GateRow {
	row := GateRow{Name: name, Baseline: base.Value, Tolerance: tol, HigherIsBetter: base.HigherIsBetter}
	if base.HigherIsBetter {
		row.Limit = base.Value * (1 - tol)
	} else {
		row.Limit = base.Value * (1 + tol)
	}
	c, ok := cur[name]
	row.Scenarios, row.Pairs = c.Scenarios, c.Pairs
	if spec, known := specOf(name); !ok && known {
		row.Scenarios = []string{spec.numSc, spec.denSc}
	}
	switch {
	case !ok || c.Value <= 0:
		row.Reason = "missing from this run"
	case base.HigherIsBetter && c.Value < row.Limit:
		row.Current, row.Reason = c.Value, fmt.Sprintf("fell %.1f%% below baseline", 100*(1-c.Value/base.Value))
	case !base.HigherIsBetter && c.Value > row.Limit:
		row.Current, row.Reason = c.Value, fmt.Sprintf("rose %.1f%% above baseline", 100*(c.Value/base.Value-1))
	default:
		row.Current, row.Pass = c.Value, true
	}
	return row
}

// Passed reports whether every row passed.
func Passed(rows []GateRow) bool {
	for _, r := range rows {
		if !r.Pass {
			return false
		}
	}
	return len(rows) > 0
}

// WriteGateTable prints the comparison.
func WriteGateTable(w io.Writer, rows []GateRow) {
	fmt.Fprintf(w, "%-36s %9s %9s %11s %7s %6s %6s\n", "ratio", "baseline", "current", "limit", "change", "tol", "")
	for _, r := range rows {
		verdict := "ok"
		if !r.Pass {
			verdict = "FAIL"
		}
		dir := ">="
		if !r.HigherIsBetter {
			dir = "<="
		}
		fmt.Fprintf(w, "%-36s %9.3f %9.3f %s %8.3f %+6.1f%% %5.1f%% %5s\n", r.Name, r.Baseline, r.Current, dir, r.Limit,
			change(r.Current, r.Baseline), 100*r.Tolerance, verdict)
	}
}

func change(cur, base float64) float64 {
	if base == 0 || cur == 0 {
		return 0
	}
	return 100 * (cur/base - 1)
}

// WriteGateFailures says, for each failing row, which figure moved and by
// how much, and the command that measures it again alone (reproduce maps
// the scenarios to re-run to a command line).
func WriteGateFailures(w io.Writer, rows []GateRow, reproduce func(scenarios []string) string) {
	for _, r := range rows {
		if r.Pass {
			continue
		}
		dir := ">="
		if !r.HigherIsBetter {
			dir = "<="
		}
		switch {
		case r.Current == 0:
			fmt.Fprintf(w, "FAIL %s: %s\n", r.Name, r.Reason)
		case r.Budget:
			fmt.Fprintf(w, "FAIL %s: %.3f, %s (%s %.3f)\n", r.Name, r.Current, r.Reason, dir, r.Limit)
		default:
			fmt.Fprintf(w, "FAIL %s: %.3f, %s %.3f (limit %s %.3f, tolerance %.1f%%), from %d pair ratios\n",
				r.Name, r.Current, r.Reason, r.Baseline, dir, r.Limit, 100*r.Tolerance, r.Pairs)
		}
		var parts []string
		for _, s := range r.Sides {
			parts = append(parts, fmt.Sprintf("%s %s %s (baseline run %s, %+.1f%%)", s.Label, fmtFigure(s.Current), s.Unit,
				fmtFigure(s.Baseline), change(s.Current, s.Baseline)))
		}
		if len(parts) > 0 {
			fmt.Fprintf(w, "     %s\n", strings.Join(parts, "; "))
		}
		if reproduce != nil && len(r.Scenarios) > 0 {
			fmt.Fprintf(w, "     reproduce: %s\n", reproduce(r.Scenarios))
		}
	}
}

func fmtFigure(x float64) string {
	switch {
	case x == 0:
		return "-"
	case x >= 1e6:
		return fmt.Sprintf("%.3fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1fk", x/1e3)
	}
	return fmt.Sprintf("%.4f", x)
}

// Gate runs a suite and compares it with a baseline. When a ratio fails,
// it runs the scenarios behind the failing ratios (whole slice groups)
// once more, all rounds, and judges every ratio again over both attempts'
// pairs: a regression must show in twice the data, while a burst of load
// that made the first attempt look bad is outweighed by a clean second.
type Gate struct {
	Runner    Runner
	Suite     Suite
	Baseline  Baseline
	Tolerance float64   // > 0 overrides the baseline's
	Out       io.Writer // tables and the retry notice
	// Reproduce, when set, turns scenarios into the command that measures
	// them alone, for the failure report.
	Reproduce func(scenarios []string) string
	// Cluster, when set, adds the cluster part's budget rows (bandwidth,
	// failover) after the ratios.
	Cluster *ClusterGate
}

// GateVerdict is what a gate run found.
type GateVerdict struct {
	Results *Results  // every run, both attempts
	Rows    []GateRow // the verdict
	First   []GateRow // the first attempt's rows (Rows when there was no retry)
	Retried bool
	Passed  bool
}

// Run runs the gate: the suite's ratios, then the cluster part's budgets.
func (g Gate) Run(ctx context.Context) (GateVerdict, error) {
	v, err := g.runRatios(ctx)
	if err != nil || g.Cluster == nil {
		return v, err
	}
	rows, first, retried, err := g.Cluster.Run(ctx, g.Runner.Peers, v.Results, g.Out)
	if err != nil {
		return v, err
	}
	v.Rows, v.First = append(v.Rows, rows...), append(v.First, first...)
	v.Retried = v.Retried || retried
	v.Passed = Passed(v.Rows)
	return v, nil
}

// runRatios runs the suite and judges its ratios, with one retry.
func (g Gate) runRatios(ctx context.Context) (GateVerdict, error) {
	res, err := g.Runner.RunSuite(ctx, g.Suite)
	if err != nil {
		return GateVerdict{}, err
	}
	rows := Compare(g.Baseline, res, g.Tolerance)
	v := GateVerdict{Results: res, Rows: rows, First: rows, Passed: Passed(rows)}
	if v.Passed {
		return v, nil
	}
	retry := retryScenarios(g.Suite, rows)
	fmt.Fprintf(g.Out, "\ngate: first attempt failed:\n")
	WriteGateTable(g.Out, rows)
	WriteGateFailures(g.Out, rows, nil)
	fmt.Fprintf(g.Out, "gate: running %v again (%d rounds); the verdict pools both attempts\n", names(retry), g.Suite.Rounds)
	runs, err := g.Runner.runRounds(ctx, retry, g.Suite.Rounds, 1)
	if err != nil {
		return v, err
	}
	res.Runs = append(res.Runs, runs...)
	res.Finish()
	v.Rows, v.Retried = Compare(g.Baseline, res, g.Tolerance), true
	v.Passed = Passed(v.Rows)
	return v, nil
}

// retryScenarios are the suite's scenarios behind failed rows, with the
// rest of their slice groups (all of them when a row does not say).
func retryScenarios(s Suite, rows []GateRow) []Scenario {
	var want []string
	for _, r := range rows {
		if r.Pass {
			continue
		}
		if len(r.Scenarios) == 0 {
			return s.Scenarios
		}
		want = append(want, r.Scenarios...)
	}
	out := s.Subset(want)
	if len(out.Scenarios) == 0 {
		return s.Scenarios
	}
	return out.Scenarios
}

func names(scs []Scenario) []string {
	var out []string
	for _, sc := range scs {
		out = append(out, sc.Name)
	}
	return out
}

// WriteBaselineTable prints each ratio's value, tolerance and spread.
func WriteBaselineTable(w io.Writer, b Baseline) {
	names := make([]string, 0, len(b.Ratios))
	for n := range b.Ratios {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "\n%-36s %9s %7s %7s %8s\n", "baseline ratio", "value", "tol", "spread", "detects")
	for _, n := range names {
		r := b.Ratios[n]
		fmt.Fprintf(w, "%-36s %9.3f %6.1f%% %6.1f%% %7.1f%%\n", n, r.Value, 100*pickTolerance(b, r, 0), 100*r.Spread, 100*r.Detects)
	}
}
