package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"time"
)

// DefaultTolerance is how far a gated ratio may fall below its baseline
// (or rise above it, for lower-is-better ratios) before the gate fails.
const DefaultTolerance = 0.10

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
}

// BaselineRatio is one gated ratio of the baseline.
type BaselineRatio struct {
	Value          float64   `json:"value"`
	PerRound       []float64 `json:"per_round"`
	HigherIsBetter bool      `json:"higher_is_better"`
	// Tolerance, when set, overrides the baseline's default for this ratio.
	Tolerance   float64 `json:"tolerance,omitempty"`
	Description string  `json:"description"`
}

// MaxNoiseTolerance caps the tolerance NoiseTolerance may give a ratio.
const MaxNoiseTolerance = 0.5

// NoiseTolerance is the band a ratio needs on the machine that measured
// perRound: three median absolute deviations relative to the median,
// rounded up to 5%, at least floor and at most MaxNoiseTolerance. A ratio
// whose rounds disagree by more than floor cannot be judged more finely
// than that: a smaller change is indistinguishable from the machine's
// noise.
func NoiseTolerance(perRound []float64, floor float64) float64 {
	med := Median(perRound)
	if math.IsNaN(med) || med <= 0 {
		return floor
	}
	var dev []float64
	for _, x := range perRound {
		dev = append(dev, math.Abs(x-med))
	}
	rel := 3 * Median(dev) / med
	rel = math.Ceil(rel*20-1e-9) / 20
	return math.Min(math.Max(rel, floor), math.Max(MaxNoiseTolerance, floor))
}

// NewBaseline takes the gated ratios of res. With widen, each ratio whose
// rounds were noisier than tolerance gets its own NoiseTolerance.
func NewBaseline(res *Results, tolerance float64, widen bool) Baseline {
	b := Baseline{Schema: SchemaVersion, Created: res.Finished, Command: res.Command, Host: res.Host,
		Suite: res.Suite, Rounds: res.Rounds, Tolerance: tolerance, Ratios: map[string]BaselineRatio{}}
	for _, r := range res.Ratios {
		if !r.Gated {
			continue
		}
		br := BaselineRatio{Value: r.Value, PerRound: r.PerRound, HigherIsBetter: r.HigherIsBetter, Description: r.Description}
		if t := NoiseTolerance(r.PerRound, tolerance); widen && t > tolerance {
			br.Tolerance = t
		}
		b.Ratios[r.Name] = br
	}
	return b
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
		return b, fmt.Errorf("baseline %s: schema %d with %d ratios, want schema %d with ratios", path, b.Schema, len(b.Ratios), SchemaVersion)
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
	Scenarios      []string
}

// Compare judges every baseline ratio against current. tolerance > 0
// overrides the baseline's default (not per-ratio overrides).
func Compare(b Baseline, current []RatioResult, tolerance float64) []GateRow {
	cur := map[string]RatioResult{}
	for _, r := range current {
		cur[r.Name] = r
	}
	names := make([]string, 0, len(b.Ratios))
	for n := range b.Ratios {
		names = append(names, n)
	}
	sort.Strings(names)
	var rows []GateRow
	for _, n := range names {
		rows = append(rows, judge(n, b.Ratios[n], cur, pickTolerance(b, b.Ratios[n], tolerance)))
	}
	return rows
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
	row.Scenarios = c.Scenarios
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
	fmt.Fprintf(w, "%-38s %9s %9s %9s %7s %6s  %s\n", "ratio", "baseline", "current", "limit", "change", "", "")
	for _, r := range rows {
		verdict := "ok"
		if !r.Pass {
			verdict = "FAIL"
		}
		dir := ">="
		if !r.HigherIsBetter {
			dir = "<="
		}
		change := 0.0
		if r.Baseline != 0 {
			change = 100 * (r.Current/r.Baseline - 1)
		}
		fmt.Fprintf(w, "%-38s %9.3f %9.3f %s%7.3f %+6.1f%% %5s  %s\n", r.Name, r.Baseline, r.Current, dir, r.Limit, change, verdict, r.Reason)
	}
}

// Gate runs a suite, compares it with a baseline and, when a ratio fails,
// runs the scenarios behind the failing ratios once more (all rounds)
// before deciding.
type Gate struct {
	Runner    Runner
	Suite     Suite
	Baseline  Baseline
	Tolerance float64   // > 0 overrides the baseline's
	Out       io.Writer // tables and the retry notice
}

// Run returns the final results, the rows and whether the gate passed.
func (g Gate) Run(ctx context.Context) (*Results, []GateRow, bool, error) {
	res, err := g.Runner.RunSuite(ctx, g.Suite)
	if err != nil {
		return nil, nil, false, err
	}
	rows := Compare(g.Baseline, res.Ratios, g.Tolerance)
	if Passed(rows) {
		return res, rows, true, nil
	}
	retry := failingScenarios(g.Suite, rows)
	fmt.Fprintf(g.Out, "\ngate: first attempt failed:\n")
	WriteGateTable(g.Out, rows)
	fmt.Fprintf(g.Out, "gate: retrying %d scenario(s) once: %v\n", len(retry), names(retry))
	runs, err := g.Runner.runRounds(ctx, retry, g.Suite.Rounds, 1)
	if err != nil {
		return res, rows, false, err
	}
	res.Runs = append(res.Runs, runs...)
	res.Finish()
	rows = Compare(g.Baseline, res.Ratios, g.Tolerance)
	return res, rows, Passed(rows), nil
}

// failingScenarios are the suite's scenarios behind failed rows (all of
// them when a row does not say).
func failingScenarios(s Suite, rows []GateRow) []Scenario {
	want := map[string]bool{}
	for _, r := range rows {
		if r.Pass {
			continue
		}
		if len(r.Scenarios) == 0 {
			return s.Scenarios
		}
		for _, n := range r.Scenarios {
			want[n] = true
		}
	}
	var out []Scenario
	for _, sc := range s.Scenarios {
		if want[sc.Name] {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return s.Scenarios
	}
	return out
}

func names(scs []Scenario) []string {
	var out []string
	for _, sc := range scs {
		out = append(out, sc.Name)
	}
	return out
}
