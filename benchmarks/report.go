package benchmarks

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// DurabilityNote says what each peer's durable mode is, for reports.
const DurabilityNote = "acks=-1 durability: Chronik answers acks=-1 only after fdatasync (group commit: one fdatasync covers every " +
	"append that arrived while the previous one ran). kfake (franz-go pkg/kfake) runs in memory for acks=1 and, for the " +
	"durable scenario, with kfake.DataDir and kfake.SyncWrites: it fsyncs the segment and index file after every batch, " +
	"on its single cluster goroutine, regardless of acks. Both are therefore durable at acks=-1; they differ in how they batch fsyncs."

// WriteTextSummary prints the ratio table and per-scenario medians.
func WriteTextSummary(w io.Writer, res *Results) {
	fmt.Fprintf(w, "\n%s: %d rounds, interleaved; medians over rounds\n\n", res.Suite, res.Rounds)
	fmt.Fprintf(w, "%-16s %-11s %12s %12s %9s %9s %9s %9s %9s %10s %9s %6s\n", "scenario", "system", "msg/s", "steady", "MB/s",
		"p50 ms", "p99 ms", "p99.9 ms", "max ms", "CPU-s/M", "RSS MiB", "errors")
	for _, s := range res.Summaries {
		fmt.Fprintf(w, "%-16s %-11s %12.0f %12.0f %9.2f %9.3f %9.3f %9.3f %9.3f %10.3f %9.1f %6d\n", s.Scenario, s.System,
			s.MsgPerSec, s.SteadyMsgPerSec, s.MBPerSec, s.Latency.P50Ms, s.Latency.P99Ms, s.Latency.P999Ms, s.Latency.MaxMs,
			s.CPUSecPerMillion, mib(s.PeakRSSBytes), s.Errors)
	}
	fmt.Fprintf(w, "\n%-38s %8s  %s\n", "same-run ratio", "value", "per round (value: IQM of all pair ratios)")
	for _, r := range res.Ratios {
		fmt.Fprintf(w, "%-38s %8.3f  %s\n", r.Name, r.Value, fmtFloats(r.PerRound))
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func fmtFloats(xs []float64) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, fmt.Sprintf("%.3f", x))
	}
	return strings.Join(parts, " ")
}

// WriteReport writes REPORT.md: context, ratios, per-scenario tables, the
// plots, and every run.
func WriteReport(path string, res *Results, plots []Plot) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Chronik benchmark report: %s\n\n", res.Suite)
	fmt.Fprintf(&b, "- started %s, finished %s (UTC)\n", res.Started.Format("2006-01-02 15:04:05"), res.Finished.Format("15:04:05"))
	fmt.Fprintf(&b, "- host %s: %d CPUs, %s, Linux %s, load average at start %s\n", res.Host.Hostname, res.Host.CPUs,
		res.Host.GoVersion, res.Host.Kernel, res.Host.LoadAvg)
	fmt.Fprintf(&b, "- command: `%s`\n", res.Command)
	if len(res.Scenarios) > 0 {
		fmt.Fprintf(&b, "- %d rounds; in each round every scenario runs on both systems back to back (order alternating), "+
			"each run on a fresh broker process with a fresh data dir, or, for a sliced scenario, every arm (scenario on a "+
			"system) of its slice group side by side, taking turns slice by slice; figures are medians over rounds. A ratio "+
			"is the interquartile mean (geometric mean of the middle half) of its pair ratios: slice k of the numerator's "+
			"run over slice k of the denominator's for sliced scenarios, else one pair per round. msg/s is records over the "+
			"window (the slices); steady msg/s is the median of the rates over its 200 ms sub-intervals (or its slices). "+
			"CPU is the broker process's CPU clock (every thread, nanoseconds) over the window; RSS is its peak (VmHWM).\n\n",
			res.Rounds)
	} else {
		b.WriteString("\n")
	}
	for _, n := range res.Notes {
		fmt.Fprintf(&b, "> %s\n\n", n)
	}
	if len(res.Scenarios) > 0 {
		writeRatioTable(&b, res)
		writeScenarioTables(&b, res)
	}
	writeClusterSection(&b, res)
	if res.Failover != nil {
		writeFailoverSection(&b, res.Failover)
	}
	if res.Scale != nil {
		writeScaleSection(&b, res.Scale)
	}
	if len(plots) > 0 {
		b.WriteString("## Plots\n\n")
		for _, p := range plots {
			fmt.Fprintf(&b, "### %s\n\n![%s](%s)\n\n", p.Title, p.Title, p.File)
		}
	}
	if len(res.Runs) > 0 {
		writeRunTable(&b, res)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func writeRatioTable(b *strings.Builder, res *Results) {
	b.WriteString("## Same-run ratios\n\n| ratio | value | per round | better | gated | meaning |\n|---|---:|---|---|---|---|\n")
	for _, r := range res.Ratios {
		better := "lower"
		if r.HigherIsBetter {
			better = "higher"
		}
		fmt.Fprintf(b, "| %s | %.3f | %s | %s | %v | %s |\n", r.Name, r.Value, fmtFloats(r.PerRound), better, r.Gated, r.Description)
	}
	b.WriteString("\n")
}

func writeScenarioTables(b *strings.Builder, res *Results) {
	b.WriteString("## Scenarios (medians over rounds)\n\n")
	for _, sc := range res.Scenarios {
		fmt.Fprintf(b, "### %s\n\n%s\n\n", sc.Name, describeScenario(sc))
		b.WriteString("| system | durability | msg/s | steady msg/s | MB/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | CPU-s / M records | peak RSS MiB | errors |\n")
		b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range res.Summaries {
			if s.Scenario != sc.Name {
				continue
			}
			l := s.Latency
			fmt.Fprintf(b, "| %s | %s | %.0f | %.0f | %.2f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f | %d |\n", s.System,
				s.Durability, s.MsgPerSec, s.SteadyMsgPerSec, s.MBPerSec, l.P50Ms, l.P90Ms, l.P99Ms, l.P999Ms, l.MaxMs, s.CPUSecPerMillion,
				mib(s.PeakRSSBytes), s.Errors)
		}
		b.WriteString("\n")
	}
}

// describeScenario is one line saying what the workload is.
func describeScenario(sc Scenario) string {
	rate := "as fast as possible"
	if sc.Rate > 0 {
		rate = fmt.Sprintf("%d records/s", sc.Rate)
	}
	what := map[string]string{
		KindProduce: "latency = Produce call to acknowledgement",
		KindConsume: fmt.Sprintf("%d records preloaded, then read from the start by one consumer; latency = PollFetches calls that returned records", sc.Count),
		KindE2E:     "one consumer reads while producers write; latency = receive time - send time",
	}[sc.Kind]
	window := fmt.Sprintf("window %v after %v warm-up", sc.Duration, sc.Warmup)
	if sc.Kind == KindConsume {
		window, rate = "window = the read", "preloaded as fast as possible"
	}
	if sc.Slices > 0 {
		window = fmt.Sprintf("%d slices of %d records after one warm-up slice, each its own window", sc.Slices, sc.sliceRecords())
		if sc.Kind == KindConsume {
			what = fmt.Sprintf("%d records preloaded, each slice a fresh consumer reading them from the start", sc.sliceRecords())
		}
	}
	return fmt.Sprintf("%s: %d producer(s), %d partitions, %d-byte records, acks=%d, linger %v, batch %d bytes, "+
		"compression %s, %s, %s. %s.", sc.Kind, sc.Producers, sc.Partitions, sc.RecordBytes,
		sc.Acks, sc.Linger, sc.BatchBytes, sc.Compression, rate, window, what)
}

func writeRunTable(b *strings.Builder, res *Results) {
	b.WriteString("## Every run\n\n| round | attempt | scenario | system | records | s | msg/s | steady msg/s | MB/s | p50 ms | p99 ms | CPU-s | CPU-s / M | peak RSS MiB | errors |\n")
	b.WriteString("|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range res.Runs {
		fmt.Fprintf(b, "| %d | %d | %s | %s | %d | %.2f | %.0f | %.0f | %.2f | %.3f | %.3f | %.2f | %.3f | %.1f | %d |\n",
			r.Round+1, r.Attempt, r.Scenario, r.System, r.Records, r.Seconds, r.MsgPerSec, r.SteadyMsgPerSec, r.MBPerSec, r.Latency.P50Ms,
			r.Latency.P99Ms, r.CPUSeconds, r.CPUSecPerMillion, mib(r.PeakRSSBytes), r.Errors)
	}
}
