package perf

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
)

// Delta is how one function's cost changed between two captures. Shares
// are percentages of each capture's total, so captures of different
// lengths or load compare fairly.
type Delta struct {
	Name                          string
	FlatBefore, FlatAfter         int64
	CumBefore, CumAfter           int64
	FlatShareDelta, CumShareDelta float64 // percentage points, after - before
}

// Diff lists functions whose share of the total grew, largest growth of
// cumulative share first (flat share breaks ties), at most n.
func Diff(before, after Costs, n int) []Delta {
	names := map[string]bool{}
	for k := range before.Funcs {
		names[k] = true
	}
	for k := range after.Funcs {
		names[k] = true
	}
	var out []Delta
	for name := range names {
		b, a := before.Funcs[name], after.Funcs[name]
		d := Delta{Name: name, FlatBefore: b.Flat, FlatAfter: a.Flat, CumBefore: b.Cum, CumAfter: a.Cum,
			FlatShareDelta: pct(a.Flat, after.Total) - pct(b.Flat, before.Total),
			CumShareDelta:  pct(a.Cum, after.Total) - pct(b.Cum, before.Total)}
		if d.FlatShareDelta > 0 || d.CumShareDelta > 0 {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CumShareDelta != out[j].CumShareDelta {
			return out[i].CumShareDelta > out[j].CumShareDelta
		}
		if out[i].FlatShareDelta != out[j].FlatShareDelta {
			return out[i].FlatShareDelta > out[j].FlatShareDelta
		}
		return out[i].Name < out[j].Name
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// WriteDiff writes the growth table of one profile kind.
func WriteDiff(w io.Writer, kind string, before, after Costs, n int) {
	fmt.Fprintf(w, "== %s (%s): total %s -> %s\n", kind, after.SampleType, FormatValue(before.Total, before.Unit),
		FormatValue(after.Total, after.Unit))
	ds := Diff(before, after, n)
	if len(ds) == 0 {
		fmt.Fprintf(w, "   nothing grew\n\n")
		return
	}
	fmt.Fprintf(w, "%9s %9s %14s %14s  %s\n", "cum pp", "flat pp", "cum before", "cum after", "function")
	for _, d := range ds {
		fmt.Fprintf(w, "%+8.2f %+8.2f %14s %14s  %s\n", d.CumShareDelta, d.FlatShareDelta,
			FormatValue(d.CumBefore, before.Unit), FormatValue(d.CumAfter, after.Unit), d.Name)
	}
	fmt.Fprintln(w)
}

// DiffDirs compares every profile kind present in both capture
// directories and writes what grew.
func DiffDirs(w io.Writer, beforeDir, afterDir string, n int) error {
	fmt.Fprintf(w, "what grew from %s to %s (pp = percentage points of each capture's total)\n\n", beforeDir, afterDir)
	compared := 0
	for _, k := range Kinds {
		pb, errB := Load(filepath.Join(beforeDir, k.Name+".pb.gz"))
		pa, errA := Load(filepath.Join(afterDir, k.Name+".pb.gz"))
		if errB != nil || errA != nil {
			continue
		}
		cb, err := Reduce(pb, k.SampleIndex)
		if err != nil {
			return fmt.Errorf("%s before: %w", k.Name, err)
		}
		ca, err := Reduce(pa, k.SampleIndex)
		if err != nil {
			return fmt.Errorf("%s after: %w", k.Name, err)
		}
		WriteDiff(w, k.Name, cb, ca, n)
		compared++
	}
	if compared == 0 {
		return fmt.Errorf("no profile kind present in both %s and %s", beforeDir, afterDir)
	}
	return nil
}
