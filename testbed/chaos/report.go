package chaos

import (
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// TimelineSlot is the width of a timeline bucket.
const TimelineSlot = 250 * time.Millisecond

// results runs the checker and assembles the run's results.
func (r *run) results(schedule []Fault, finals []map[int32][]Read) *Results {
	r.mu.Lock()
	defer r.mu.Unlock()
	sort.SliceStable(r.acks, func(i, j int) bool { return r.acks[i].At.Before(r.acks[j].At) })
	in := Input{Acks: r.acks, Reads: r.reads, Final: finals, Faults: r.events}
	res := &Results{Seed: r.cfg.Seed, Brokers: r.cfg.Brokers, Partitions: r.cfg.Partitions, RF: r.cfg.RF,
		MinInsync: r.cfg.MinInsync, Rate: r.cfg.Rate, Start: r.start, End: time.Now(), Schedule: schedule,
		Events: r.events, KindCounts: map[string]int{}, ProduceErrors: r.prodErrs, Warnings: r.warnings, Unhealed: r.unhealed,
		FinalReadShort: r.finalShort}
	for _, e := range r.events {
		res.KindCounts[e.Kind]++
	}
	res.Check = Check(in, 10)
	res.Gaps = FailoverGaps(r.acks, r.events, r.cfg.Partitions)
	res.Timeline = Timeline(r.acks, r.start, TimelineSlot)
	res.Summary = res.Check.Summary(r.events, r.start)
	return res
}

// FailoverGaps measures, for each fault, the longest stretch in which some
// affected partition acknowledged nothing, among the stretches between
// two acknowledgements of that partition that overlap the fault (from its
// start to 10 s after its end, when the recovery may still go on, or the
// next fault's start), leaving out a stretch that began before the
// previous fault ended (it is that fault's).
func FailoverGaps(acks []Ack, events []FaultEvent, partitions int) []FailoverGap {
	byP := map[int32][]time.Time{}
	for _, a := range acks {
		byP[a.Partition] = append(byP[a.Partition], a.At)
	}
	for _, ts := range byP {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	}
	var out []FailoverGap
	for i, e := range events {
		ps := e.Affected
		if len(ps) == 0 {
			for p := range partitions {
				ps = append(ps, int32(p))
			}
		}
		from, to := e.Start, e.End.Add(10*time.Second)
		if i+1 < len(events) && events[i+1].Start.Before(to) {
			to = events[i+1].Start
		}
		var after time.Time // a stretch begun before the previous fault ended is that one's
		if i > 0 {
			after = events[i-1].End
		}
		var worst time.Duration
		for _, p := range ps {
			ts := byP[p]
			for i := 1; i < len(ts); i++ {
				if ts[i].After(from) && ts[i-1].Before(to) && !ts[i-1].Before(after) {
					worst = max(worst, ts[i].Sub(ts[i-1]))
				}
			}
		}
		out = append(out, FailoverGap{N: e.N, Kind: e.Kind, Gap: worst})
	}
	return out
}

// Timeline counts the acknowledgements per slot from start.
func Timeline(acks []Ack, start time.Time, slot time.Duration) []Bucket {
	var out []Bucket
	for _, a := range acks {
		i := int(a.At.Sub(start) / slot)
		if i < 0 {
			continue
		}
		for len(out) <= i {
			out = append(out, Bucket{At: time.Duration(len(out)) * slot})
		}
		out[i].Acked++
	}
	return out
}

// GapStats returns the median, 90th percentile and largest gap.
func GapStats(gaps []FailoverGap) (median, p90, worst time.Duration) {
	if len(gaps) == 0 {
		return 0, 0, 0
	}
	ds := make([]time.Duration, len(gaps))
	for i, g := range gaps {
		ds[i] = g.Gap
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], ds[(len(ds)*9)/10], ds[len(ds)-1]
}

// Write writes results.json, REPORT.md and the timeline plot into dir.
func (res *Results) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	body, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), body, 0o644); err != nil {
		return err
	}
	plotErr := res.plot(filepath.Join(dir, "timeline.svg"), filepath.Join(dir, "timeline.png"))
	return os.WriteFile(filepath.Join(dir, "REPORT.md"), []byte(res.Markdown(plotErr == nil)), 0o644)
}

// OK reports whether every data check passed and the cluster healed after
// every fault.
func (res *Results) OK() bool { return res.Check.OK() && res.Unhealed == 0 }

// Markdown is REPORT.md.
func (res *Results) Markdown(withPlot bool) string {
	var b strings.Builder
	verdict := "PASS"
	if !res.OK() {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "# Chaos run, seed %d: %s\n\n", res.Seed, verdict)
	fmt.Fprintf(&b, "%d brokers, %d partitions, RF %d, min.insync.replicas %d, %d records/s; %d faults in %v.\n\n",
		res.Brokers, res.Partitions, res.RF, res.MinInsync, res.Rate, len(res.Events), res.End.Sub(res.Start).Round(time.Second))
	fmt.Fprintf(&b, "Replay: `chronik-testbed chaos -seed %d -faults %d -brokers %d -partitions %d -rf %d -min-insync %d -rate %d`\n\n",
		res.Seed, len(res.Schedule), res.Brokers, res.Partitions, res.RF, res.MinInsync, res.Rate)
	b.WriteString("## Checks\n\n| check | offenders |\n|---|---|\n")
	for _, k := range Checks {
		fmt.Fprintf(&b, "| %s | %d |\n", k, res.Check.Counts[k])
	}
	fmt.Fprintf(&b, "| cluster did not heal | %d |\n", res.Unhealed)
	if res.FinalReadShort {
		b.WriteString("\n**A final read stopped short of the end offsets** (the cluster did not serve them in time): " +
			"lost and vanished include the records it could not read.\n")
	}
	fmt.Fprintf(&b, "\nAcknowledged %d records; concurrent readers got %d; the final read %d.\n\n", res.Check.Acked, res.Check.Read, res.Check.FinalRead)
	if !res.Check.OK() {
		b.WriteString("## First offenders\n\n```\n" + res.Summary + "```\n\n")
	}
	if withPlot {
		b.WriteString("## Timeline\n\nAcknowledged records per second; each fault shaded from its start to its end.\n\n![timeline](timeline.svg)\n\n")
	}
	b.WriteString("## Faults\n\n| kind | count |\n|---|---|\n")
	kinds := make([]string, 0, len(res.KindCounts))
	for k := range res.KindCounts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(&b, "| %s | %d |\n", k, res.KindCounts[k])
	}
	med, p90, worst := GapStats(res.Gaps)
	fmt.Fprintf(&b, "\nFailover gap (longest stretch an affected partition acknowledged nothing): median %v, p90 %v, max %v.\n\n",
		med.Round(time.Millisecond), p90.Round(time.Millisecond), worst.Round(time.Millisecond))
	b.WriteString("| # | kind | start | lasted | gap | what |\n|---|---|---|---|---|---|\n")
	gaps := map[int]time.Duration{}
	for _, g := range res.Gaps {
		gaps[g.N] = g.Gap
	}
	for _, e := range res.Events {
		fmt.Fprintf(&b, "| %d | %s | +%v | %v | %v | %s |\n", e.N, e.Kind, e.Start.Sub(res.Start).Round(100*time.Millisecond),
			e.End.Sub(e.Start).Round(100*time.Millisecond), gaps[e.N].Round(time.Millisecond), e.Detail)
	}
	if len(res.ProduceErrors) > 0 {
		b.WriteString("\n## Produce errors (records not acknowledged)\n\n")
		for e, n := range res.ProduceErrors {
			fmt.Fprintf(&b, "- %d × %s\n", n, e)
		}
	}
	if len(res.Warnings) > 0 {
		b.WriteString("\n## Warnings\n\n")
		for _, w := range res.Warnings {
			fmt.Fprintf(&b, "- %s\n", w)
		}
	}
	return b.String()
}

func (res *Results) plot(files ...string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("seed %d: acknowledged records/s, faults shaded", res.Seed)
	p.X.Label.Text = "seconds"
	p.Y.Label.Text = "records/s"
	pts := make(plotter.XYs, len(res.Timeline))
	peak := 1.0
	for i, bk := range res.Timeline {
		pts[i].X = bk.At.Seconds()
		pts[i].Y = float64(bk.Acked) / TimelineSlot.Seconds()
		peak = max(peak, pts[i].Y)
	}
	for _, e := range res.Events {
		x0, x1 := e.Start.Sub(res.Start).Seconds(), e.End.Sub(res.Start).Seconds()
		poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: 0}, {X: x1, Y: 0}, {X: x1, Y: peak}, {X: x0, Y: peak}})
		if err != nil {
			return err
		}
		poly.Color = color.NRGBA{R: 255, G: 120, B: 120, A: 60}
		poly.LineStyle.Width = 0
		p.Add(poly)
		lbl, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: x0, Y: peak}}, Labels: []string{fmt.Sprintf("%d", e.N)}})
		if err == nil {
			p.Add(lbl)
		}
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	p.Add(line)
	for _, f := range files {
		if err := p.Save(24*vg.Centimeter, 9*vg.Centimeter, f); err != nil {
			return err
		}
	}
	return nil
}
