package benchmarks

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// GateRates measures how often the gate fails: Runs full gate runs (retry
// included, exactly as `make bench-gate`) of each variant, the variants
// taking turns run by run so that each saw the same mix of load from the
// rest of the machine. The first variant is meant to be the unchanged
// broker (its failures are false alarms), the others brokers slowed on
// purpose (chronik-debug with debug.* keys; their passes are misses).
type GateRates struct {
	Suite     Suite
	Baseline  Baseline
	Variants  []RateVariant
	Runs      int
	Tolerance float64      // > 0 overrides the baseline's, as Gate.Tolerance
	Dir       string       // each gate run's log and results.json, and rates.json
	Progress  io.Writer    // one line per gate run
	Cluster   *ClusterGate // the gate's cluster budgets (Gate.Cluster); nil: none
}

// RateVariant is one broker set-up.
type RateVariant struct {
	Name  string
	Peers Peers
}

// RateRun is one gate run of one variant.
type RateRun struct {
	Variant string      `json:"variant"`
	Run     int         `json:"run"` // 1-based
	Started time.Time   `json:"started"`
	Seconds float64     `json:"seconds"`
	LoadAvg string      `json:"loadavg_at_start"`
	Passed  bool        `json:"passed"`
	Retried bool        `json:"retried"`
	Ratios  []RateRatio `json:"ratios"`
}

// RateRatio is one ratio's part in a gate run.
type RateRatio struct {
	Name      string  `json:"name"`
	Baseline  float64 `json:"baseline"`
	Limit     float64 `json:"limit"`
	Tolerance float64 `json:"tolerance"`
	Higher    bool    `json:"higher_is_better"`
	First     float64 `json:"first"` // the first attempt's value
	FirstPass bool    `json:"first_pass"`
	Value     float64 `json:"value"` // the verdict's, over both attempts when retried
	Pass      bool    `json:"pass"`
}

// Run runs every gate run and returns them; rates.json in Dir is rewritten
// after each, so an interrupted measurement keeps what it has.
func (g GateRates) Run(ctx context.Context) ([]RateRun, error) {
	var runs []RateRun
	for i := 1; i <= g.Runs; i++ {
		for _, v := range g.Variants {
			rr, err := g.runOne(ctx, v, i)
			if err != nil {
				return runs, fmt.Errorf("%s run %d: %w", v.Name, i, err)
			}
			runs = append(runs, rr)
			if err := WriteJSON(filepath.Join(g.Dir, "rates.json"), runs); err != nil {
				return runs, err
			}
			if g.Progress != nil {
				verdict := "PASS"
				if !rr.Passed {
					verdict = "FAIL " + strings.Join(failedNames(rr), ", ")
				}
				retried := ""
				if rr.Retried {
					retried = " (retried)"
				}
				fmt.Fprintf(g.Progress, "%s run %2d/%d: %s%s in %.0f s, load %s\n", v.Name, i, g.Runs, verdict, retried, rr.Seconds, rr.LoadAvg)
			}
		}
	}
	return runs, nil
}

func (g GateRates) runOne(ctx context.Context, v RateVariant, i int) (RateRun, error) {
	dir := filepath.Join(g.Dir, fmt.Sprintf("%s-%02d", safeName(v.Name), i))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return RateRun{}, err
	}
	logf, err := os.Create(filepath.Join(dir, "gate.log"))
	if err != nil {
		return RateRun{}, err
	}
	defer logf.Close()
	r := Runner{Peers: v.Peers, Progress: logf, Log: slog.New(slog.NewTextHandler(logf, nil))}
	rr := RateRun{Variant: v.Name, Run: i, Started: time.Now().UTC(), LoadAvg: HostInfo().LoadAvg}
	verdict, err := Gate{Runner: r, Suite: g.Suite, Baseline: g.Baseline, Tolerance: g.Tolerance, Out: logf, Cluster: g.Cluster}.Run(ctx)
	if err != nil {
		return rr, err
	}
	rr.Seconds = time.Since(rr.Started).Seconds()
	rr.Passed, rr.Retried = verdict.Passed, verdict.Retried
	WriteGateTable(logf, verdict.Rows)
	WriteGateFailures(logf, verdict.Rows, nil)
	first := map[string]GateRow{}
	for _, row := range verdict.First {
		first[row.Name] = row
	}
	for _, row := range verdict.Rows {
		f := first[row.Name]
		rr.Ratios = append(rr.Ratios, RateRatio{Name: row.Name, Baseline: row.Baseline, Limit: row.Limit, Tolerance: row.Tolerance,
			Higher: row.HigherIsBetter, First: f.Current, FirstPass: f.Pass, Value: row.Current, Pass: row.Pass})
	}
	return rr, WriteJSON(filepath.Join(dir, "results.json"), verdict.Results)
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func failedNames(rr RateRun) []string {
	var out []string
	for _, r := range rr.Ratios {
		if !r.Pass {
			out = append(out, r.Name)
		}
	}
	return out
}

// WriteRatesSummary prints, per variant, how many gate runs failed, and
// per ratio how many verdicts (and first attempts) it failed and how far
// its value was from the baseline: median, and the worst, i.e. nearest the
// limit. For each variant after the first, effect is the median value over
// the first variant's median: how much the slowdown moved the ratio.
func WriteRatesSummary(w io.Writer, runs []RateRun) {
	var variants []string
	by := map[string][]RateRun{}
	for _, r := range runs {
		if _, ok := by[r.Variant]; !ok {
			variants = append(variants, r.Variant)
		}
		by[r.Variant] = append(by[r.Variant], r)
	}
	fmt.Fprintf(w, "%-14s %5s %7s %8s %9s %7s\n", "variant", "runs", "failed", "retried", "median s", "max s")
	for _, v := range variants {
		rs := by[v]
		var failed, retried int
		var secs []float64
		for _, r := range rs {
			if !r.Passed {
				failed++
			}
			if r.Retried {
				retried++
			}
			secs = append(secs, r.Seconds)
		}
		sort.Float64s(secs)
		fmt.Fprintf(w, "%-14s %5d %7d %8d %9.0f %7.0f\n", v, len(rs), failed, retried, Median(secs), secs[len(secs)-1])
	}
	var ref map[string]float64
	for _, v := range variants {
		meds := writeVariantRatios(w, v, by[v], ref)
		if ref == nil {
			ref = meds
		}
	}
}

// writeVariantRatios prints one variant's per-ratio table and returns the
// median value of each ratio.
func writeVariantRatios(w io.Writer, variant string, rs []RateRun, ref map[string]float64) map[string]float64 {
	fmt.Fprintf(w, "\n%s: value vs baseline over %d runs (fails: verdicts failing the ratio / first attempts failing it)\n", variant, len(rs))
	fmt.Fprintf(w, "%-36s %6s %6s %6s %8s %8s %8s", "ratio", "tol", "fails", "first", "median", "worst", "best")
	if ref != nil {
		fmt.Fprintf(w, " %8s", "effect")
	}
	fmt.Fprintln(w)
	vals := map[string][]float64{}
	var order []string
	fails, firsts := map[string]int{}, map[string]int{}
	tols, higher, base := map[string]float64{}, map[string]bool{}, map[string]float64{}
	for _, r := range rs {
		for _, q := range r.Ratios {
			if _, ok := vals[q.Name]; !ok {
				order = append(order, q.Name)
			}
			vals[q.Name] = append(vals[q.Name], q.Value)
			tols[q.Name], higher[q.Name], base[q.Name] = q.Tolerance, q.Higher, q.Baseline
			if !q.Pass {
				fails[q.Name]++
			}
			if !q.FirstPass {
				firsts[q.Name]++
			}
		}
	}
	meds := map[string]float64{}
	for _, n := range order {
		xs := append([]float64{}, vals[n]...)
		sort.Float64s(xs)
		worst, best := xs[0], xs[len(xs)-1]
		if !higher[n] {
			worst, best = best, worst
		}
		meds[n] = Median(xs)
		fmt.Fprintf(w, "%-36s %5.1f%% %6d %6d %+7.1f%% %+7.1f%% %+7.1f%%", n, 100*tols[n], fails[n], firsts[n],
			change(meds[n], base[n]), change(worst, base[n]), change(best, base[n]))
		if ref != nil {
			fmt.Fprintf(w, " %+7.1f%%", change(meds[n], ref[n]))
		}
		fmt.Fprintln(w)
	}
	return meds
}
