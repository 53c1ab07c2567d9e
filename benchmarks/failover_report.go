package benchmarks

import (
	"fmt"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// FailoverNote defines the failover figures, for reports.
const FailoverNote = "Failover: an event's time is taken just before the signal (kill -9 or SIGTERM) is sent. " +
	"For each partition the victim led (or, for the follower-stall row, only followed), the figure is the time from the event " +
	"to the client's acknowledgement of the first acks=-1 record handed to kgo's Produce at or after the event; " +
	"'first' takes the earliest such partition of the event (the issue's 'first acknowledged produce to a partition it led'), " +
	"'all' the latest, 'gap' the longest time between two successive acknowledgements on any of them from the event until the " +
	"victim is restarted (for SIGTERM the old leader may acknowledge a record sent after the signal before it hands over, so " +
	"'gap' is the unavailability a client sees). Percentiles are nearest-rank over events."

// writeFailoverSection writes REPORT.md's failover table.
func writeFailoverSection(b *strings.Builder, r *FailoverResult) {
	c := r.Config
	fmt.Fprintf(b, "## Failover\n\n3 brokers, RF=3, min.insync.replicas=2, %d partitions; %d idempotent acks=-1 franz-go producers "+
		"at %d records/s each, kgo.MetadataMinAge %.0f ms, retry backoff %s; victims down %.0f ms after their partitions took writes again; broker properties %v.\n\n",
		c.Partitions, c.Producers, c.RatePerProducer, c.MetadataMinAgeMs, c.retryBackoff(), c.DownMs, c.Properties)
	fmt.Fprintf(b, "> %s\n\n", FailoverNote)
	b.WriteString("| row | events | first p50 | p90 | p99 | max | all p50 | p99 | max | gap p50 | p99 | max | timeouts | what |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(b, "| %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %d | %s |\n", row.Name, row.Events,
			row.First.P50Ms, row.First.P90Ms, row.First.P99Ms, row.First.MaxMs, row.All.P50Ms, row.All.P99Ms, row.All.MaxMs,
			row.Gap.P50Ms, row.Gap.P99Ms, row.Gap.MaxMs, row.TimedOut, row.Description)
	}
	k := r.Check
	fmt.Fprintf(b, "\nData check (every acknowledged record read back): %d acknowledged, %d read, %d lost, %d duplicates, %d moved, "+
		"%d offset gaps, %d out of order, %d foreign; %d produce errors.\n\n", k.Acked, k.Read, k.Lost, k.Duplicates, k.Moved,
		k.Gaps, k.Reorders, k.Foreign, r.ProduceErrors)
	for _, p := range k.Problems {
		fmt.Fprintf(b, "- problem: %s\n", p)
	}
}

// failoverCDFPlot draws, per row, the cumulative distribution of the
// per-event 'first' figures.
func failoverCDFPlot(dir string, r *FailoverResult) (Plot, error) {
	p := plot.New()
	p.Title.Text = "Failover: event -> first acknowledged acks=-1 produce (CDF over events)"
	p.X.Label.Text = "ms"
	p.Y.Label.Text = "fraction of events"
	p.Y.Min, p.Y.Max = 0, 1
	n := 0
	for i, row := range r.Rows {
		if row.First.Count == 0 {
			continue
		}
		line, err := plotter.NewLine(cdfSteps(row.First.Samples))
		if err != nil {
			return Plot{}, fmt.Errorf("failover plot %s: %w", row.Name, err)
		}
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i)
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("%s (%d)", row.Name, row.First.Count), line)
		n++
	}
	if n == 0 {
		return Plot{}, nil
	}
	p.Legend.Top, p.Legend.Left = false, false
	p.Add(plotter.NewGrid())
	return savePlot(p, dir, "failover-cdf.svg", p.Title.Text, 16*vg.Centimeter)
}

// cdfSteps is the empirical CDF of sorted samples as a step line.
func cdfSteps(sorted []float64) plotter.XYs {
	xys := plotter.XYs{{X: 0, Y: 0}}
	for i, v := range sorted {
		xys = append(xys, plotter.XY{X: v, Y: float64(i) / float64(len(sorted))}, plotter.XY{X: v, Y: float64(i+1) / float64(len(sorted))})
	}
	return xys
}
