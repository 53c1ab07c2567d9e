package perf

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/pprof/profile"
)

// FuncCost is one function's cost in a profile, in the sample type's unit.
type FuncCost struct {
	Name string
	Flat int64 // samples where it is the leaf
	Cum  int64 // samples where it is anywhere on the stack
}

// Costs is a profile reduced to per-function costs for one sample type.
type Costs struct {
	SampleType string
	Unit       string
	Total      int64
	Funcs      map[string]FuncCost
}

// Load reads a profile file.
func Load(path string) (*profile.Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open profile: %w", err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("parse profile %s: %w", path, err)
	}
	return p, nil
}

// Reduce sums p's samples per function for sampleIndex ("" = default).
// The leaf is the innermost line of the first location (inlined frames
// count as their own functions); a function appears once per sample in Cum
// however often it recurses.
func Reduce(p *profile.Profile, sampleIndex string) (Costs, error) {
	idx, err := p.SampleIndexByName(sampleIndex)
	if err != nil {
		return Costs{}, fmt.Errorf("sample type %q: %w", sampleIndex, err)
	}
	c := Costs{SampleType: p.SampleType[idx].Type, Unit: p.SampleType[idx].Unit, Funcs: map[string]FuncCost{}}
	for _, s := range p.Sample {
		v := s.Value[idx]
		c.Total += v
		seen := map[string]bool{}
		for li, loc := range s.Location {
			for ln, line := range loc.Line {
				name := funcName(line)
				fc := c.Funcs[name]
				fc.Name = name
				if li == 0 && ln == 0 {
					fc.Flat += v
				}
				if !seen[name] {
					seen[name] = true
					fc.Cum += v
				}
				c.Funcs[name] = fc
			}
		}
	}
	return c, nil
}

func funcName(l profile.Line) string {
	if l.Function == nil || l.Function.Name == "" {
		return "?"
	}
	return l.Function.Name
}

// Top returns the n most costly functions by flat (byCum false) or by
// cumulative cost.
func (c Costs) Top(n int, byCum bool) []FuncCost {
	fs := make([]FuncCost, 0, len(c.Funcs))
	for _, f := range c.Funcs {
		fs = append(fs, f)
	}
	key := func(f FuncCost) int64 {
		if byCum {
			return f.Cum
		}
		return f.Flat
	}
	sort.Slice(fs, func(i, j int) bool {
		if key(fs[i]) != key(fs[j]) {
			return key(fs[i]) > key(fs[j])
		}
		return fs[i].Name < fs[j].Name
	})
	if len(fs) > n {
		fs = fs[:n]
	}
	return fs
}

// pct is v as a percentage of total.
func pct(v, total int64) float64 {
	if total == 0 {
		return 0
	}
	return 100 * float64(v) / float64(total)
}

// FormatValue renders v in the sample type's unit.
func FormatValue(v int64, unit string) string {
	switch unit {
	case "nanoseconds":
		return fmt.Sprintf("%.3fs", float64(v)/1e9)
	case "bytes":
		return fmt.Sprintf("%.2fMiB", float64(v)/(1<<20))
	}
	return fmt.Sprintf("%d %s", v, unit)
}

// WriteTop writes one profile's top-n tables by flat and by cum.
func WriteTop(w io.Writer, kind string, c Costs, n int) {
	fmt.Fprintf(w, "== %s (%s, total %s)\n", kind, c.SampleType, FormatValue(c.Total, c.Unit))
	if c.Total == 0 {
		fmt.Fprintf(w, "   no samples\n\n")
		return
	}
	for _, byCum := range []bool{false, true} {
		title := "flat"
		if byCum {
			title = "cum"
		}
		fmt.Fprintf(w, "-- top %d by %s\n%12s %7s %12s %7s  %s\n", n, title, "flat", "flat%", "cum", "cum%", "function")
		for _, f := range c.Top(n, byCum) {
			fmt.Fprintf(w, "%12s %6.2f%% %12s %6.2f%%  %s\n", FormatValue(f.Flat, c.Unit), pct(f.Flat, c.Total),
				FormatValue(f.Cum, c.Unit), pct(f.Cum, c.Total), f.Name)
		}
	}
	fmt.Fprintln(w)
}

// SummarizeDir writes summary.txt for every profile of a capture directory
// and returns its text.
func SummarizeDir(dir string, n int) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "profiles in %s (google/pprof/profile); flat = leaf, cum = anywhere on the stack\n\n", dir)
	var errs []error
	for _, k := range Kinds {
		p, err := Load(filepath.Join(dir, k.Name+".pb.gz"))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c, err := Reduce(p, k.SampleIndex)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k.Name, err))
			continue
		}
		WriteTop(&b, k.Name, c, n)
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(b.String()), 0o644); err != nil {
		errs = append(errs, fmt.Errorf("write summary: %w", err))
	}
	return b.String(), errors.Join(errs...)
}
