package benchmarks

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// ScaleNote says how the scale figures are measured, for reports.
const ScaleNote = "Scale sweeps: one dimension grows at a time. CPU is the broker process's CPU clock (every thread, " +
	"nanoseconds) over each slice; a slice's msg/s is its records over its time. Curves are read against their own first " +
	"(or reference) point measured in the same run: the partitions brokers all run at once and take turns slice by slice; " +
	"each connections round goes up and back down on one broker; Chronik and kfake take turns at each load point. " +
	"A ratio over slices is the interquartile mean of slice-pair ratios. RSS is VmRSS, open files the entries of " +
	"/proc/<pid>/fd, disk the allocated blocks under the data directory."

// writeScaleSection writes REPORT.md's "Cost as the work grows": issue
// 15's goals judged from the figures, a compact table per sweep, then every
// figure of each sweep.
func writeScaleSection(b *strings.Builder, r *ScaleResult) {
	writeScaleSummary(b, r)
	b.WriteString("### Every figure of the sweeps\n\n")
	writeSweeps(b, r, writePartitionTable, writeConnTable, writeLoadTable)
}

// writeSweeps writes a table of each sweep r ran.
func writeSweeps(b *strings.Builder, r *ScaleResult, part func(*strings.Builder, *PartitionSweep),
	conn func(*strings.Builder, *ConnSweep), load func(*strings.Builder, *LoadSweep)) {
	if p := r.Partitions; p != nil {
		part(b, p)
	}
	if c := r.Connections; c != nil {
		conn(b, c)
	}
	if l := r.Load; l != nil {
		load(b, l)
	}
}

// writeScaleSummary writes the goals and the compact tables.
func writeScaleSummary(b *strings.Builder, r *ScaleResult) {
	fmt.Fprintf(b, "## Cost as the work grows\n\n> %s\n\n", ScaleNote)
	fmt.Fprintf(b, "RLIMIT_NOFILE of the bench and its brokers: soft %d, hard %d", r.NoFile.Soft, r.NoFile.Hard)
	if r.NoFile.Note != "" {
		fmt.Fprintf(b, " (%s)", r.NoFile.Note)
	}
	b.WriteString(". Wall time per sweep:")
	for _, sw := range r.Config.Sweeps {
		fmt.Fprintf(b, " %s %.0f s;", sw, r.WallSeconds[sw])
	}
	b.WriteString("\n\n")
	writeSweepConfig(b, r.Config)
	writeGoalTable(b, ScaleGoals(r))
	writeSweeps(b, r, writePartitionSummary, writeConnSummary, writeLoadSummary)
}

// writeSweepConfig says how many points and measurements the figures
// come from (a short pass measures each point less).
func writeSweepConfig(b *strings.Builder, c ScaleConfig) {
	for _, sw := range c.Sweeps {
		switch sw {
		case SweepPartitions:
			fmt.Fprintf(b, "- partitions %s: %d slices of %d records each\n", joinCounts(c.PartitionCounts, strconv.Itoa), c.PartitionSlices, c.PartitionSliceRecords)
		case SweepConnections:
			fmt.Fprintf(b, "- idle connections %s, up and down: %d round(s), per step %d slice(s) of %d records and %v at %d records/s\n",
				joinCounts(c.ConnCounts, strconv.Itoa), c.ConnRounds, c.ConnSlices, c.ConnSliceRecords, c.ConnLatencyWindow, c.ConnLatencyRate)
		case SweepLoad:
			fmt.Fprintf(b, "- producers %s at %s, record sizes %s at %d producers, acks %s: %d slices per system per point\n",
				joinCounts(c.LoadProducers, strconv.Itoa), sizeName(c.LoadRecordBytesAt), joinCounts(c.LoadRecordBytes, sizeName),
				c.LoadProducersAt, joinCounts(c.LoadAcks, strconv.Itoa), c.LoadSlices)
		}
	}
	b.WriteString("\n")
}

func joinCounts(xs []int, f func(int) string) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, f(x))
	}
	return strings.Join(parts, " ")
}

// tableStart writes a heading, its text and a table's header: numbers
// right-aligned, a note column left-aligned.
func tableStart(b *strings.Builder, heading, text string, cols ...string) {
	fmt.Fprintf(b, "### %s\n\n%s\n\n| %s |\n|", heading, text, strings.Join(cols, " | "))
	for _, c := range cols {
		if c == "note" {
			b.WriteString("---|")
		} else {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
}

func writeGoalTable(b *strings.Builder, goals []ScaleGoal) {
	if len(goals) == 0 {
		return
	}
	b.WriteString("### Goals (issue 15)\n\n| sweep | goal | figure | at | value | bound | status | note |\n|---|---|---|---:|---:|---:|---|---|\n")
	for _, g := range goals {
		value, bound := fmt.Sprintf("%.3f", g.Value), ""
		if g.Limit > 0 {
			op := "<="
			if g.HigherIsBetter {
				op = ">="
			}
			bound = fmt.Sprintf("%s %.2f", op, g.Limit)
		}
		if g.Unit == unitBytes {
			value = byteSize(g.Value)
		}
		if g.Status == GoalNotMeasured {
			value = ""
		}
		status := g.Status
		if g.Status == GoalMet || g.Status == GoalNotMet {
			status = "**" + status + "**"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %d | %s | %s | %s | %s |\n", g.Sweep, g.Goal, g.Figure, g.At, value, bound, status, g.Note)
	}
	b.WriteString("\n")
}

func writePartitionSummary(b *strings.Builder, p *PartitionSweep) {
	tableStart(b, "Partitions", fmt.Sprintf("One broker per count; acks=1 load taking turns slice by slice; CPU/M ratio over the %d-partition broker. "+
		"Idle: after the topic was created, before any record; per idle partition: the change over the partitions.", p.Reference),
		"partitions", "msg/s", "CPU-s / M", "CPU/M ratio", "RSS MiB idle", "open files idle", "RSS / idle partition",
		"disk / idle partition", "start ms", "restart ms", "note")
	for _, pt := range p.Points {
		fmt.Fprintf(b, "| %d | %.0f | %.3f | %.3f | %.1f | %d | %s | %s | %.0f | %.0f | %s |\n", pt.Partitions, pt.Load.MsgPerSec,
			pt.Load.CPUSecPerMillion, pt.CPURatio, mib(pt.Idle.RSSBytes), pt.Idle.OpenFiles, byteSize(pt.RSSPerPartition),
			byteSize(pt.DiskPerPartition), pt.StartMs, pt.RestartMs, pt.Error)
	}
	b.WriteString("\n")
}

func writeConnSummary(b *strings.Builder, c *ConnSweep) {
	tableStart(b, "Connections", "Busy producers beside idle connections; ratios over the round's first count (medians over measurements, "+
		"up and down); per idle connection: across each step up alone.",
		"idle connections", "busy msg/s", "msg/s ratio", "p99 ms", "p99 ratio", "RSS / idle connection", "anon / idle connection")
	for k, p := range c.Points {
		rss, anon := byteSize(p.RSSPerConn), byteSize(p.AnonPerConn)
		if k == 0 {
			rss, anon = "-", "-" // the base: no step up to it
		}
		fmt.Fprintf(b, "| %d | %.0f | %.3f | %.3f | %.3f | %s | %s |\n", p.Idle, p.MsgPerSec, p.MsgRatio, p.P99Ms, p.P99Ratio, rss, anon)
	}
	b.WriteString("\n")
}

func writeLoadSummary(b *strings.Builder, l *LoadSweep) {
	tableStart(b, "Producers and record sizes", "Chronik against kfake, taking turns; a fraction is Chronik's MB/s over the box's "+
		"limit at Chronik's write size (disk: acks=-1 only).",
		"acks", "producers", "record", "Chronik msg/s", "Chronik MB/s", "kfake MB/s", "msg/s ratio", "of loopback", "of disk")
	for _, p := range l.Points {
		disk := "-"
		if p.Acks == -1 {
			disk = fmt.Sprintf("%.3f", p.DiskFraction)
		}
		fmt.Fprintf(b, "| %d | %d | %s | %.0f | %.1f | %.1f | %.3f | %.3f | %s |\n", p.Acks, p.Producers, sizeName(p.RecordBytes),
			p.Chronik.MsgPerSec, p.Chronik.MBPerSec, p.Kfake.MBPerSec, p.MsgRatio, p.LoopbackFraction, disk)
	}
	b.WriteString("\n")
}

func writePartitionTable(b *strings.Builder, p *PartitionSweep) {
	fmt.Fprintf(b, "#### Partitions\n\n%s Ratios are over the %d-partition broker.\n\n", p.Workload, p.Reference)
	b.WriteString("| partitions | msg/s | CPU-s / M | msg/s ratio | CPU/M ratio | bytes / append | start ms | create ms | restart ms | restart -> ack ms | idle CPU % | RSS MiB idle | RSS / partition | files / partition | maps / partition | disk / partition | note |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, pt := range p.Points {
		fmt.Fprintf(b, "| %d | %.0f | %.3f | %.3f | %.3f | %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.1f | %s | %.2f | %.2f | %s | %s |\n",
			pt.Partitions, pt.Load.MsgPerSec, pt.Load.CPUSecPerMillion, pt.MsgRatio, pt.CPURatio, byteSize(pt.AppendBytes), pt.StartMs, pt.CreateMs,
			pt.RestartMs, pt.RestartAckMs, pt.IdleCPUPercent, mib(pt.Idle.RSSBytes), byteSize(pt.RSSPerPartition), pt.FilesPerPartition,
			pt.MapsPerPartition, byteSize(pt.DiskPerPartition), pt.Error)
	}
	b.WriteString("\n")
}

func writeConnTable(b *strings.Builder, c *ConnSweep) {
	fmt.Fprintf(b, "#### Connections\n\n%s. Ratios are each measurement over its round's first count.\n\n", c.Workload)
	b.WriteString("| idle connections | measurements | busy msg/s | msg/s ratio | CPU-s / M | p50 ms | p99 ms | p99 ratio | RSS / idle connection | anon / idle connection | files / idle connection |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range c.Points {
		fmt.Fprintf(b, "| %d | %d | %.0f | %.3f | %.3f | %.3f | %.3f | %.3f | %s | %s | %.2f |\n", p.Idle, p.Measurements, p.MsgPerSec,
			p.MsgRatio, p.CPUSecPerMillion, p.P50Ms, p.P99Ms, p.P99Ratio, byteSize(p.RSSPerConn), byteSize(p.AnonPerConn), p.FilesPerConn)
	}
	b.WriteString("\n")
}

func writeLoadTable(b *strings.Builder, l *LoadSweep) {
	fmt.Fprintf(b, "#### Producers and record sizes\n\n%s. MB/s counts record values (10^6 bytes); a fraction is Chronik's MB/s "+
		"over the box's limit at Chronik's write size (bytes per fdatasync at acks=-1, per append at acks=1, rounded to a power of two); "+
		"the disk fraction only at acks=-1 (at acks=1 Chronik does not wait for fdatasync).\n\n", l.Workload)
	b.WriteString("| point | acks | producers | record | Chronik msg/s | kfake msg/s | msg/s ratio | Chronik MB/s | kfake MB/s | CPU/M ratio | Chronik p99 ms | kfake p99 ms | bytes / append | bytes / fdatasync | disk limit MB/s | of disk | loopback limit MB/s | of loopback |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range l.Points {
		fmt.Fprintf(b, "| %s | %d | %d | %s | %.0f | %.0f | %.3f | %.1f | %.1f | %.3f | %.2f | %.2f | %s | %s | %.1f | %.2f | %.0f | %.3f |\n",
			p.Name, p.Acks, p.Producers, sizeName(p.RecordBytes), p.Chronik.MsgPerSec, p.Kfake.MsgPerSec, p.MsgRatio, p.Chronik.MBPerSec,
			p.Kfake.MBPerSec, p.CPURatio, p.Chronik.P99Ms, p.Kfake.P99Ms, byteSize(p.AppendBytes), byteSize(p.SyncBytes),
			p.DiskLimitMBPerSec, p.DiskFraction, p.LoopbackLimitMBPerSec, p.LoopbackFraction)
	}
	b.WriteString("\n| after point | limit | write bytes | MB/s | ops/s | s |\n|---|---|---:|---:|---:|---:|\n")
	for _, x := range l.Limits {
		what := "pwrite + fdatasync"
		if x.Kind == LimitLoopback {
			what = "loopback TCP copy"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %.1f | %.0f | %.2f |\n", x.Point, what, byteSize(float64(x.WriteBytes)), x.MBPerSec, x.OpsPerSec, x.Seconds)
	}
	b.WriteString("\n")
}

// byteSize prints a byte count with a binary unit.
func byteSize(b float64) string {
	switch a := math.Abs(b); {
	case a >= 1<<30:
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	case a >= 1<<20:
		return fmt.Sprintf("%.2f MiB", b/(1<<20))
	case a >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

// WriteScaleSummary prints the goals and the sweeps' main figures.
func WriteScaleSummary(w io.Writer, r *ScaleResult) {
	var b strings.Builder
	b.WriteString("\n")
	writeScaleSummary(&b, r)
	fmt.Fprint(w, b.String())
}

// series is one line of a plot; a dashed one (a goal's bound) has no
// point marks and the colour of the line at index like.
type series struct {
	name   string
	xys    plotter.XYs
	dashed bool
	like   int
}

// boundLine is a goal's bound y across the x range of ss, drawn in the
// colour of the plot's line at index like.
func boundLine(name string, y float64, like int, ss ...series) series {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, xy := range s.xys {
			lo, hi = math.Min(lo, xy.X), math.Max(hi, xy.X)
		}
	}
	out := series{name: name, dashed: true, like: like}
	if lo <= hi {
		out.xys = plotter.XYs{{X: lo, Y: y}, {X: hi, Y: y}}
	}
	return out
}

// scalePlots draws the sweeps' curves.
func scalePlots(dir string, r *ScaleResult) ([]Plot, error) {
	var plots []Plot
	add := func(p Plot, err error) error {
		if err == nil && p.File != "" {
			plots = append(plots, p)
		}
		return err
	}
	if p := r.Partitions; p != nil {
		var cpu, msg, rss, files, disk, start, restart, create series
		cpu.name, msg.name = "CPU-s/M over the reference", "msg/s over the reference"
		rss.name, files.name, disk.name = "RSS KiB per partition", "open files per partition", "disk KiB per partition"
		start.name, restart.name, create.name = "start (empty)", "restart with the partitions", "create the partitions"
		for _, pt := range p.Points {
			x := float64(pt.Partitions)
			if pt.Load.MsgPerSec > 0 {
				cpu.xys = append(cpu.xys, plotter.XY{X: x, Y: pt.CPURatio})
				msg.xys = append(msg.xys, plotter.XY{X: x, Y: pt.MsgRatio})
			}
			if pt.CreateMs > 0 {
				rss.xys = append(rss.xys, plotter.XY{X: x, Y: pt.RSSPerPartition / 1024})
				files.xys = append(files.xys, plotter.XY{X: x, Y: pt.FilesPerPartition})
				disk.xys = append(disk.xys, plotter.XY{X: x, Y: pt.DiskPerPartition / 1024})
				create.xys = append(create.xys, plotter.XY{X: x, Y: pt.CreateMs})
			}
			start.xys = append(start.xys, plotter.XY{X: x, Y: pt.StartMs})
			if pt.RestartMs > 0 {
				restart.xys = append(restart.xys, plotter.XY{X: x, Y: pt.RestartMs})
			}
		}
		goal := boundLine(fmt.Sprintf("goal: CPU/M ratio <= %.1f at %d (over %d)", GoalPartitionsCPURatio, GoalPartitionsAt, GoalPartitionsRef),
			GoalPartitionsCPURatio, 0, cpu, msg)
		if err := add(linePlot(dir, "scale-partitions-cost.svg", fmt.Sprintf("Partitions: msg/s and CPU-s/M over the %d-partition broker", p.Reference),
			"partitions (log)", "ratio", true, false, []series{cpu, msg, goal})); err != nil {
			return nil, err
		}
		if err := add(linePlot(dir, "scale-partitions-idle.svg", "Partitions: what each idle partition holds",
			"partitions (log)", "per partition", true, false, []series{rss, files, disk})); err != nil {
			return nil, err
		}
		if err := add(linePlot(dir, "scale-partitions-start.svg", "Partitions: broker start, restart and topic creation",
			"partitions (log)", "ms (log)", true, true, []series{start, restart, create})); err != nil {
			return nil, err
		}
	}
	if c := r.Connections; c != nil {
		var msg, p99, rss, p50ms, p99ms series
		msg.name, p99.name, rss.name = "busy msg/s over the first count", "busy p99 over the first count", "RSS MiB / 100"
		p50ms.name, p99ms.name = "busy producers' p50", "busy producers' p99"
		for _, p := range c.Points {
			x := float64(p.Idle)
			msg.xys = append(msg.xys, plotter.XY{X: x, Y: p.MsgRatio})
			p99.xys = append(p99.xys, plotter.XY{X: x, Y: p.P99Ratio})
			p50ms.xys = append(p50ms.xys, plotter.XY{X: x, Y: p.P50Ms})
			p99ms.xys = append(p99ms.xys, plotter.XY{X: x, Y: p.P99Ms})
		}
		for _, m := range c.Measurements {
			if m.Round == 0 && m.Phase == phaseUp {
				rss.xys = append(rss.xys, plotter.XY{X: float64(m.Idle), Y: mib(m.Footprint.RSSBytes) / 100})
			}
		}
		msgGoal := boundLine(fmt.Sprintf("goal: msg/s ratio >= %.1f at %d", GoalConnsMsgRatio, GoalConnsAt), GoalConnsMsgRatio, 0, msg)
		p99Goal := boundLine(fmt.Sprintf("goal: p99 ratio <= %.1f at %d", GoalConnsP99Ratio, GoalConnsAt), GoalConnsP99Ratio, 1, p99)
		if err := add(linePlot(dir, "scale-connections.svg", "Connections: busy producers as idle connections grow",
			"idle connections (log)", "ratio", true, false, []series{msg, p99, rss, msgGoal, p99Goal})); err != nil {
			return nil, err
		}
		if err := add(linePlot(dir, "scale-connections-latency.svg", "Connections: busy producers' latency as idle connections grow",
			"idle connections (log)", "ms", true, false, []series{p50ms, p99ms})); err != nil {
			return nil, err
		}
	}
	if l := r.Load; l != nil {
		for _, acks := range r.Config.LoadAcks {
			for _, curve := range []string{"producers", "record_bytes"} {
				p, err := loadPlot(dir, l, acks, curve)
				if err := add(p, err); err != nil {
					return nil, err
				}
			}
		}
	}
	return plots, nil
}

// loadPlot draws MB/s of both systems and the limits along one curve.
func loadPlot(dir string, l *LoadSweep, acks int, curve string) (Plot, error) {
	var ch, kf, disk, loop series
	ch.name, kf.name, disk.name, loop.name = "chronik MB/s", "kfake MB/s", "disk limit (pwrite+fdatasync)", "loopback limit"
	var pts []LoadPoint
	for _, p := range l.Points {
		if p.Acks == acks && (p.Curve == curve || p.Curve == "both") {
			pts = append(pts, p)
		}
	}
	x := func(p LoadPoint) float64 { return float64(p.Producers) }
	label := "producers (log)"
	if curve == "record_bytes" {
		x, label = func(p LoadPoint) float64 { return float64(p.RecordBytes) }, "record bytes (log)"
	}
	sort.Slice(pts, func(i, j int) bool { return x(pts[i]) < x(pts[j]) })
	for _, p := range pts {
		ch.xys = append(ch.xys, plotter.XY{X: x(p), Y: p.Chronik.MBPerSec})
		kf.xys = append(kf.xys, plotter.XY{X: x(p), Y: p.Kfake.MBPerSec})
		if p.DiskLimitMBPerSec > 0 {
			disk.xys = append(disk.xys, plotter.XY{X: x(p), Y: p.DiskLimitMBPerSec})
		}
		if p.LoopbackLimitMBPerSec > 0 {
			loop.xys = append(loop.xys, plotter.XY{X: x(p), Y: p.LoopbackLimitMBPerSec})
		}
	}
	title := fmt.Sprintf("Load, acks=%d: MB/s by %s", acks, strings.TrimSuffix(label, " (log)"))
	file := fmt.Sprintf("scale-load-%s-acks%d.svg", strings.ReplaceAll(curve, "_", "-"), acks)
	return linePlot(dir, file, title, label, "MB/s (log)", true, true, []series{ch, kf, disk, loop})
}

// linePlot draws series as lines with points; empty series are left out,
// and nothing is drawn without any point.
func linePlot(dir, file, title, xLabel, yLabel string, logX, logY bool, ss []series) (Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = xLabel, yLabel
	if logX {
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	if logY {
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	n, entries := 0, 0
	for i, s := range ss {
		var xys plotter.XYs
		for _, xy := range s.xys {
			if (!logX || xy.X > 0) && (!logY || xy.Y > 0) && !math.IsNaN(xy.Y) {
				xys = append(xys, xy)
			}
		}
		if len(xys) == 0 {
			continue
		}
		if s.dashed {
			line, err := plotter.NewLine(xys)
			if err != nil {
				return Plot{}, fmt.Errorf("plot %s: %w", file, err)
			}
			line.Color, line.Dashes = plotutil.Color(s.like), plotutil.Dashes(1)
			p.Add(line)
			p.Legend.Add(s.name, line)
			entries++
			continue
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return Plot{}, fmt.Errorf("plot %s: %w", file, err)
		}
		line.Color, points.Color = plotutil.Color(i), plotutil.Color(i)
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(s.name, line, points)
		n++
		entries++
	}
	if n == 0 {
		return Plot{}, nil
	}
	// A log axis needs a positive range that is not a single value.
	if logX && p.X.Min == p.X.Max {
		p.X.Min, p.X.Max = p.X.Min/2, p.X.Max*2
	}
	if logY && p.Y.Min == p.Y.Max {
		p.Y.Min, p.Y.Max = p.Y.Min/2, p.Y.Max*2
	}
	// Room for the legend above the lines.
	if lines := float64(entries); logY {
		p.Y.Max *= math.Pow(p.Y.Max/p.Y.Min, 0.09*lines)
	} else {
		p.Y.Max += (p.Y.Max - p.Y.Min) * 0.09 * lines
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	return savePlot(p, dir, file, title, 16*vg.Centimeter)
}
