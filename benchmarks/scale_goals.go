package benchmarks

import "fmt"

// Issue 15's goals for the scale curves ("cost as the work grows"), judged
// from a sweep's own figures: each is a same-run ratio over the curve's
// first (or reference) point.
const (
	// CPU per record at GoalPartitionsAt partitions within
	// GoalPartitionsCPURatio of the 4-partition figure.
	GoalPartitionsAt       = 1000
	GoalPartitionsRef      = 4
	GoalPartitionsCPURatio = 1.5
	// The busy producers' msg/s not down, and their p99 not up, by more
	// than 10% at GoalConnsAt idle connections (over 1 idle connection).
	GoalConnsAt       = 5000
	GoalConnsMsgRatio = 0.9
	GoalConnsP99Ratio = 1.1
	// goalIdlePartitions is the count the idle partition's footprint is
	// stated for (the 10,000 idle partitions).
	goalIdlePartitions = 10000
)

// A goal's units.
const (
	unitRatio    = "ratio"
	unitFraction = "fraction"
	unitBytes    = "bytes"
)

// A goal's status.
const (
	GoalMet         = "met"
	GoalNotMet      = "not met"
	GoalNotMeasured = "not measured"
	GoalStated      = "stated" // the issue asks for the figure, not a bound
)

// ScaleGoal is one of issue 15's goals for a curve and what the sweep
// measured for it.
type ScaleGoal struct {
	Sweep  string  `json:"sweep"`
	Goal   string  `json:"goal"`   // as issue 15 states it
	Figure string  `json:"figure"` // what Value is
	At     int     `json:"at"`     // the point it is read at (partitions, idle connections, producers)
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`            // ratio, fraction or bytes
	Limit  float64 `json:"limit,omitempty"` // the bound Value is judged against; none for stated figures
	// HigherIsBetter: Value must be >= Limit, else <= Limit.
	HigherIsBetter bool   `json:"higher_is_better,omitempty"`
	Status         string `json:"status"` // met | not met | not measured | stated
	Note           string `json:"note,omitempty"`
}

// judge sets g's status from Value and Limit (bounds inclusive).
func (g *ScaleGoal) judge() {
	ok := g.Value <= g.Limit
	if g.HigherIsBetter {
		ok = g.Value >= g.Limit
	}
	g.Status = GoalNotMet
	if ok {
		g.Status = GoalMet
	}
}

// ScaleGoals judges r's figures against issue 15's goals, one row per
// goal of every sweep r ran (a sweep that did not run has no rows).
func ScaleGoals(r *ScaleResult) []ScaleGoal {
	var out []ScaleGoal
	if p := r.Partitions; p != nil {
		out = append(out, partitionGoals(p)...)
	}
	if c := r.Connections; c != nil {
		out = append(out, connGoals(c)...)
	}
	if l := r.Load; l != nil {
		out = append(out, loadGoals(r.Config, l)...)
	}
	return out
}

func partitionGoals(p *PartitionSweep) []ScaleGoal {
	cpu := ScaleGoal{Sweep: SweepPartitions, Unit: unitRatio, At: GoalPartitionsAt, Limit: GoalPartitionsCPURatio,
		Goal:   fmt.Sprintf("CPU per record at %d partitions within %.1fx of the %d-partition figure", GoalPartitionsAt, GoalPartitionsCPURatio, GoalPartitionsRef),
		Figure: fmt.Sprintf("CPU-s/M over the %d-partition broker's (IQM of slice pairs)", GoalPartitionsRef)}
	var at *PartitionPoint
	for i := range p.Points {
		if p.Points[i].Partitions == GoalPartitionsAt {
			at = &p.Points[i]
		}
	}
	switch {
	case p.Reference != GoalPartitionsRef:
		cpu.Status, cpu.Note = GoalNotMeasured, fmt.Sprintf("the ratios are over %d partitions, not %d", p.Reference, GoalPartitionsRef)
	case at == nil:
		cpu.Status, cpu.Note = GoalNotMeasured, fmt.Sprintf("no %d-partition point", GoalPartitionsAt)
	case at.CPURatio <= 0:
		cpu.Status, cpu.Note = GoalNotMeasured, "no load figures: "+at.Error
	default:
		cpu.Value = at.CPURatio
		cpu.judge()
		cpu.Note = fmt.Sprintf("%.3f against %.3f CPU-s/M (medians)", at.Load.CPUSecPerMillion, refCPU(p))
	}
	out := []ScaleGoal{cpu}
	// The footprint of an idle partition at the largest count measured idle.
	var idle *PartitionPoint
	for i := range p.Points {
		if pt := &p.Points[i]; pt.CreateMs > 0 && (idle == nil || pt.Partitions > idle.Partitions) {
			idle = pt
		}
	}
	for _, f := range []struct {
		figure string
		value  func(*PartitionPoint) float64
	}{{"RSS per idle partition (bytes)", func(pt *PartitionPoint) float64 { return pt.RSSPerPartition }},
		{"disk per idle partition (bytes allocated)", func(pt *PartitionPoint) float64 { return pt.DiskPerPartition }}} {
		g := ScaleGoal{Sweep: SweepPartitions, Unit: unitBytes, Goal: "memory and disk per idle partition bounded and stated", Figure: f.figure,
			Status: GoalNotMeasured, Note: "no partitions point was measured idle"}
		if idle != nil {
			g.At, g.Value, g.Status = idle.Partitions, f.value(idle), GoalStated
			g.Note = fmt.Sprintf("%s for %d idle partitions", byteSize(g.Value*goalIdlePartitions), goalIdlePartitions)
		}
		out = append(out, g)
	}
	return out
}

// refCPU is the reference point's CPU-s/M.
func refCPU(p *PartitionSweep) float64 {
	for _, pt := range p.Points {
		if pt.Partitions == p.Reference {
			return pt.Load.CPUSecPerMillion
		}
	}
	return 0
}

func connGoals(c *ConnSweep) []ScaleGoal {
	msg := ScaleGoal{Sweep: SweepConnections, Unit: unitRatio, At: GoalConnsAt, Limit: GoalConnsMsgRatio, HigherIsBetter: true,
		Goal:   fmt.Sprintf("busy producers' msg/s not down by more than %.0f%% at %d idle connections", 100*(1-GoalConnsMsgRatio), GoalConnsAt),
		Figure: "busy msg/s over the round's first count (median over measurements)"}
	p99 := ScaleGoal{Sweep: SweepConnections, Unit: unitRatio, At: GoalConnsAt, Limit: GoalConnsP99Ratio,
		Goal:   fmt.Sprintf("busy producers' p99 not worse by more than %.0f%% at %d idle connections", 100*(GoalConnsP99Ratio-1), GoalConnsAt),
		Figure: "busy p99 over the round's first count (median over measurements)"}
	var at *ConnPoint
	for i := range c.Points {
		if c.Points[i].Idle == GoalConnsAt && c.Points[i].Measurements > 0 {
			at = &c.Points[i]
		}
	}
	for _, g := range []*ScaleGoal{&msg, &p99} {
		if at == nil {
			g.Status, g.Note = GoalNotMeasured, fmt.Sprintf("no measurement at %d idle connections", GoalConnsAt)
		}
	}
	if at != nil {
		msg.Value, p99.Value = at.MsgRatio, at.P99Ratio
		msg.Note = fmt.Sprintf("%.0f msg/s; %d measurement(s)", at.MsgPerSec, at.Measurements)
		p99.Note = fmt.Sprintf("p99 %.3f ms; %d measurement(s)", at.P99Ms, at.Measurements)
		for _, g := range []*ScaleGoal{&msg, &p99} {
			if g.Value > 0 {
				g.judge()
			} else {
				g.Status, g.Note = GoalNotMeasured, "no ratio: the first count has no figure"
			}
		}
	}
	mem := ScaleGoal{Sweep: SweepConnections, Unit: unitBytes, Goal: "memory per idle connection stated", Figure: "RSS per idle connection (bytes)",
		Status: GoalNotMeasured, Note: "no step up was measured"}
	for k := len(c.Points) - 1; k > 0; k-- {
		if pt := c.Points[k]; pt.Measurements > 0 {
			mem.At, mem.Value, mem.Status = pt.Idle, pt.RSSPerConn, GoalStated
			mem.Note = fmt.Sprintf("%s anonymous (heap, stacks); %.2f open files each", byteSize(pt.AnonPerConn), pt.FilesPerConn)
			break
		}
	}
	return append([]ScaleGoal{msg, p99}, mem)
}

// loadGoals states, per acks, Chronik against kfake and the box's limits at
// the point both load curves share (LoadProducersAt producers,
// LoadRecordBytesAt: 1 KB, Redpanda's published size); the issue sets no
// bound here.
func loadGoals(cfg ScaleConfig, l *LoadSweep) []ScaleGoal {
	var out []ScaleGoal
	for _, acks := range cfg.LoadAcks {
		var at *LoadPoint
		for i := range l.Points {
			if p := &l.Points[i]; p.Acks == acks && p.Producers == cfg.LoadProducersAt && p.RecordBytes == cfg.LoadRecordBytesAt {
				at = p
			}
		}
		where := fmt.Sprintf("%d producers, %s records, acks=%d", cfg.LoadProducersAt, sizeName(cfg.LoadRecordBytesAt), acks)
		kf := ScaleGoal{Sweep: SweepLoad, Unit: unitRatio, Goal: "msg/s and MB/s against kfake in the same run", At: cfg.LoadProducersAt,
			Figure: "Chronik msg/s over kfake's at " + where + " (IQM of slice pairs)", Status: GoalNotMeasured, Note: "no such point"}
		lim := ScaleGoal{Sweep: SweepLoad, Unit: unitFraction, Goal: "how close to the disk's and loopback's limits, as a fraction", At: cfg.LoadProducersAt,
			Figure: "Chronik MB/s over the loopback limit at " + where, Status: GoalNotMeasured, Note: "no such point"}
		if acks == -1 {
			lim.Figure = "Chronik MB/s over the disk limit (pwrite+fdatasync) at " + where
		}
		if at != nil {
			kf.Value, kf.Status = at.MsgRatio, GoalStated
			kf.Note = fmt.Sprintf("%.1f against %.1f MB/s", at.Chronik.MBPerSec, at.Kfake.MBPerSec)
			lim.Value, lim.Status = at.LoopbackFraction, GoalStated
			lim.Note = fmt.Sprintf("%.1f of %.0f MB/s", at.Chronik.MBPerSec, at.LoopbackLimitMBPerSec)
			if acks == -1 {
				lim.Value = at.DiskFraction
				lim.Note = fmt.Sprintf("%.1f of %.1f MB/s", at.Chronik.MBPerSec, at.DiskLimitMBPerSec)
			}
		}
		out = append(out, kf, lim)
	}
	return out
}
