package benchmarks

import (
	"fmt"
	"io"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ClusterResult is the "cluster" section of results.json: the cluster
// lab's scenarios that are not runner scenarios (the failover scenario
// has its own "failover" section).
type ClusterResult struct {
	Bandwidth []BandwidthRow `json:"bandwidth,omitempty"`
	ISR       *ISRResult     `json:"isr_shrink,omitempty"`
}

// BandwidthNote defines the bandwidth table's figures.
const BandwidthNote = "Per-follower bandwidth: for each broker, the bytes it read from its leaders' replication sockets while " +
	"the lab's producers wrote the topic, by the broker's own counter (chronik_replication_received_bytes_total) and, beside it, " +
	"by the kernel's (tcpi_bytes_received of the same sockets, through sock_diag); 'owned' is the record bytes of the partitions " +
	"it follows (is a replica of and does not lead), read from its log once every replica caught up: the owned share. ISR-filtered " +
	"is Chronik's fetching; whole-node is the lab switch replica.fetch.whole.node.enable (each follower fetches every partition " +
	"of each of its leaders and discards what it does not own: the seeds' phase 1). Saving = 1 - ISR-filtered / whole-node bytes."

// WriteClusterText prints the cluster lab's tables.
func WriteClusterText(w io.Writer, cr *ClusterResult) {
	if cr == nil {
		return
	}
	if len(cr.Bandwidth) > 0 {
		fmt.Fprintf(w, "\nper-follower bandwidth (bytes a follower read from its leaders; owned = bytes of the partitions it follows)\n")
		fmt.Fprintf(w, "%-32s %14s %12s %12s %14s %12s %8s %10s\n", "topology", "filtered/fol", "owned/fol", "filt/owned",
			"whole-node/fol", "whole/owned", "saving", "socket dev")
		for _, r := range cr.Bandwidth {
			fmt.Fprintf(w, "%-32s %14.0f %12.0f %12.4f %14.0f %12.3f %7.1f%% %9.4f%%\n", r.Topology, r.Filtered.meanReceived(),
				r.Filtered.meanOwned(), r.MeanOverOwned, r.WholeNode.meanReceived(), r.WholeOverOwned, 100*r.Saving, 100*r.SocketWorst)
		}
	}
	if r := cr.ISR; r != nil {
		fmt.Fprintf(w, "\nacks=-1, RF=3, min.insync=2, broker %d SIGSTOPped then SIGCONTed:\n", r.Victim)
		for _, win := range r.Windows {
			fmt.Fprintf(w, "  %-9s %10.0f msg/s %8.2f MB/s\n", win.Name, win.MsgPerSec, win.MBPerSec)
		}
		fmt.Fprintf(w, "  ISR shrank %.0f ms after SIGSTOP; catch-up %d bytes in %.0f ms = %.1f MB/s; produce errors %d\n",
			r.ShrinkMs, r.CatchUpBytes, r.CatchUpMs, r.CatchUpBytesPerSec/1e6, r.Errors)
	}
}

func (r BandwidthRun) meanReceived() float64 {
	rec, _ := r.sums()
	return orZero(Ratio(float64(rec), float64(len(r.Followers))))
}

func (r BandwidthRun) meanOwned() float64 {
	_, own := r.sums()
	return orZero(Ratio(float64(own), float64(len(r.Followers))))
}

// writeClusterSection writes REPORT.md's cluster sections: the phase 3
// table, the throughput by RF and acks, and the ISR-shrink windows.
func writeClusterSection(b *strings.Builder, res *Results) {
	cr := res.Cluster
	if cr == nil {
		return
	}
	if len(cr.Bandwidth) > 0 {
		b.WriteString("## Cluster: per-follower bandwidth (the seeds' phase 3 table)\n\n")
		fmt.Fprintf(b, "> %s\n\n", BandwidthNote)
		b.WriteString("| topology | followed share | ISR-filtered bytes / follower | owned / follower | filtered / owned (worst follower) | " +
			"whole-node bytes / follower | whole-node / owned | saving | socket vs counter (worst) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range cr.Bandwidth {
			fmt.Fprintf(b, "| %s | %.3f | %.0f | %.0f | %.4f (%.4f) | %.0f | %.3f | %.1f%% | %.4f%% |\n", r.Topology,
				Ratio(r.Filtered.meanOwned(), float64(r.Filtered.ProducedBytes)), r.Filtered.meanReceived(), r.Filtered.meanOwned(),
				r.MeanOverOwned, r.WorstOverOwned, r.WholeNode.meanReceived(), r.WholeOverOwned, 100*r.Saving, 100*r.SocketWorst)
		}
		b.WriteString("\nPer broker (bytes):\n\n| topology | mode | broker | follows | received (broker) | received (socket) | owned | observed | received / owned |\n" +
			"|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range cr.Bandwidth {
			for _, run := range []BandwidthRun{r.Filtered, r.WholeNode} {
				for _, f := range run.Followers {
					fmt.Fprintf(b, "| %s | %s | %d | %d | %d | %d | %d | %d | %.4f |\n", r.Topology, run.Mode, f.Broker, len(f.Follows),
						f.Received, f.Socket, f.Owned, f.Observed, Ratio(float64(f.Received), float64(f.Owned)))
				}
			}
		}
		b.WriteString("\n'followed share' is a follower's owned bytes over every byte produced: (RF-1)/brokers when leaders and " +
			"replicas are spread evenly; whole-node reads (brokers-1)/brokers of them, whatever the RF.\n\n")
	}
	writeThroughputByRF(b, res)
	if r := cr.ISR; r != nil {
		fmt.Fprintf(b, "## Cluster: acks=-1 with a follower stopped\n\n3 brokers, RF=3, min.insync.replicas=2, %d partitions, "+
			"2 idempotent acks=-1 producers as fast as they go; broker %d (a follower of the partitions it does not lead, not the "+
			"controller) SIGSTOPped: the window is measured once no ISR lists it (it left after %.0f ms: fenced by the "+
			"controller's session timeout, or replica.lag.time.max.ms=%d, whichever came first); then SIGCONT.\n\n",
			r.Partitions, r.Victim, r.ShrinkMs, r.LagTimeMaxMs)
		b.WriteString("| window | s | msg/s | MB/s |\n|---|---:|---:|---:|\n")
		for _, w := range r.Windows {
			fmt.Fprintf(b, "| %s | %.2f | %.0f | %.2f |\n", w.Name, w.Seconds, w.MsgPerSec, w.MBPerSec)
		}
		fmt.Fprintf(b, "\nCatch-up: the returned follower read %d bytes from its leaders between SIGCONT and being back in every ISR "+
			"(%.0f ms, producers stopped after the 'returned' window): %.1f MB/s. Produce errors: %d.\n\n",
			r.CatchUpBytes, r.CatchUpMs, r.CatchUpBytesPerSec/1e6, r.Errors)
	}
}

// rfBar is one bar of the throughput-by-RF-and-acks plot and table.
type rfBar struct {
	label, scenario, system string
}

var rfBars = []rfBar{
	{"RF=1 acks=0", ScenarioProduceAcks0, Chronik},
	{"RF=1 acks=1", ScenarioReplAcks1, Chronik},
	{"RF=1 acks=-1", ScenarioReplAcksAll, Chronik},
	{"RF=3 acks=1", ScenarioReplAcks1, ChronikRF3},
	{"RF=3 acks=-1", ScenarioReplAcksAll, ChronikRF3},
}

// throughputByRF is each bar's median msg/s and MB/s (0 when not run),
// with the ISR-shrink windows after them.
func throughputByRF(res *Results) (labels []string, msgs, mbs []float64) {
	for _, bar := range rfBars {
		for _, s := range res.Summaries {
			if s.Scenario == bar.scenario && s.System == bar.system {
				labels, msgs, mbs = append(labels, bar.label), append(msgs, s.MsgPerSec), append(mbs, s.MBPerSec)
			}
		}
	}
	if res.Cluster != nil && res.Cluster.ISR != nil {
		for _, w := range res.Cluster.ISR.Windows {
			labels = append(labels, "RF=3 acks=-1 "+w.Name)
			msgs, mbs = append(msgs, w.MsgPerSec), append(mbs, w.MBPerSec)
		}
	}
	return
}

func writeThroughputByRF(b *strings.Builder, res *Results) {
	labels, msgs, mbs := throughputByRF(res)
	if len(labels) == 0 {
		return
	}
	b.WriteString("## Cluster: throughput by RF and acks\n\nSame producers (2 clients, 100-byte records, linger 5 ms, " +
		"5 requests in flight per broker at every acks), medians over rounds. RF=1 acks=1 / acks=-1 and RF=3 are the " +
		"repl-* scenarios (9 partitions, the standalone broker and the cluster taking turns slice by slice); acks=0 is the " +
		"standalone produce-acks0 scenario (4 partitions); the last rows are the ISR-shrink scenario's windows (RF=3, " +
		"9 partitions, as fast as they go).\n\n| setting | msg/s | MB/s |\n|---|---:|---:|\n")
	for i := range labels {
		fmt.Fprintf(b, "| %s | %.0f | %.2f |\n", labels[i], msgs[i], mbs[i])
	}
	b.WriteString("\n")
}

// clusterPlots draws the per-follower bytes and the throughput by RF and
// acks.
func clusterPlots(dir string, res *Results) ([]Plot, error) {
	var out []Plot
	if res.Cluster != nil && len(res.Cluster.Bandwidth) > 0 {
		p, err := followerBytesPlot(dir, res.Cluster.Bandwidth)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if labels, msgs, _ := throughputByRF(res); len(labels) > 0 {
		p, err := simpleBars(dir, "throughput-rf-acks.svg", "Produce throughput by RF and acks (median msg/s, thousands)", labels, scale(msgs, 1e-3))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func scale(xs []float64, f float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x * f
	}
	return out
}

// followerBytesPlot: per topology, the mean bytes a follower read
// ISR-filtered and whole-node, and its owned share, in MB.
func followerBytesPlot(dir string, rows []BandwidthRow) (Plot, error) {
	p := plot.New()
	p.Title.Text = "Per-follower replication bytes (mean per broker, MB)"
	p.Y.Label.Text = "MB read from leaders"
	var names []string
	series := []struct {
		label string
		f     func(BandwidthRow) float64
	}{
		{"owned share", func(r BandwidthRow) float64 { return r.Filtered.meanOwned() / 1e6 }},
		{"ISR-filtered", func(r BandwidthRow) float64 { return r.Filtered.meanReceived() / 1e6 }},
		{"whole-node", func(r BandwidthRow) float64 { return r.WholeNode.meanReceived() / 1e6 }},
	}
	for _, r := range rows {
		names = append(names, fmt.Sprintf("%db %dp RF=%d", r.Topology.Brokers, r.Topology.Partitions, r.Topology.RF))
	}
	width := vg.Points(18)
	top := 0.0
	for i, s := range series {
		vals := make(plotter.Values, len(rows))
		for j, r := range rows {
			vals[j] = s.f(r)
			top = max(top, vals[j])
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return Plot{}, err
		}
		bars.Color, bars.LineStyle.Width = plotutil.Color(i), 0
		bars.Offset = width * vg.Length(float64(i)-float64(len(series)-1)/2)
		p.Add(bars)
		p.Legend.Add(s.label, bars)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.NominalX(names...)
	p.Y.Min, p.Y.Max = 0, top*1.35
	return savePlot(p, dir, "follower-bytes.svg", p.Title.Text, 16*vg.Centimeter)
}

// simpleBars is one bar per label.
func simpleBars(dir, file, title string, labels []string, vals []float64) (Plot, error) {
	p := plot.New()
	p.Title.Text = title
	bars, err := plotter.NewBarChart(plotter.Values(vals), vg.Points(22))
	if err != nil {
		return Plot{}, err
	}
	bars.Color, bars.LineStyle.Width = plotutil.Color(0), 0
	p.Add(bars)
	p.NominalX(labels...)
	p.X.Tick.Label.Rotation = 0.6
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	top := 0.0
	for _, v := range vals {
		top = max(top, v)
	}
	p.Y.Min, p.Y.Max = 0, top*1.1
	return savePlot(p, dir, file, title, vg.Length(max(len(labels), 3))*2.2*vg.Centimeter)
}
