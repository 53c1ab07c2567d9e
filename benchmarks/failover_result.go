package benchmarks

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/chronik/chronik/testbed/streamcheck"
)

// Partition roles of the victim at an event.
const (
	RoleLeader   = "leader"
	RoleFollower = "follower"
)

// PartitionSample is one partition at one event.
type PartitionSample struct {
	Partition  int32   `json:"partition"`
	Role       string  `json:"role"`         // the victim's role: leader | follower
	FirstAckMs float64 `json:"first_ack_ms"` // event -> first ack of a record sent at or after it
	GapMs      float64 `json:"gap_ms"`       // longest gap between acks, event .. restart
	TimedOut   bool    `json:"timed_out"`    // no such ack within the event timeout
}

// FailoverEvent is one stopped broker.
type FailoverEvent struct {
	Kind              string            `json:"kind"`
	Victim            int32             `json:"victim"`
	Controller        bool              `json:"controller"` // the victim was the controller
	At                time.Time         `json:"at"`
	DownMs            float64           `json:"down_ms"`              // event -> every partition took a write (and, SIGTERM, the process exited)
	RestartToSteadyMs float64           `json:"restart_to_steady_ms"` // restart -> back in every ISR, preferred leaders again
	Partitions        []PartitionSample `json:"partitions"`
	Note              string            `json:"note,omitempty"`
}

// brief is the event's one progress line.
func (e FailoverEvent) brief() string {
	var led, fol []string
	for _, s := range e.Partitions {
		v := fmt.Sprintf("p%d %.0f", s.Partition, s.FirstAckMs)
		if s.TimedOut {
			v = fmt.Sprintf("p%d timeout", s.Partition)
		}
		if s.Role == RoleLeader {
			led = append(led, v)
		} else {
			fol = append(fol, v)
		}
	}
	return fmt.Sprintf("first ack ms: led [%s] followed [%s]; steady %.0f ms after restart",
		strings.Join(led, " "), strings.Join(fol, " "), e.RestartToSteadyMs)
}

// Dist is a distribution of per-event figures in milliseconds. Percentiles
// are nearest-rank over the samples (p99 of 20 samples is the largest).
type Dist struct {
	Count   int       `json:"count"`
	P50Ms   float64   `json:"p50_ms"`
	P90Ms   float64   `json:"p90_ms"`
	P99Ms   float64   `json:"p99_ms"`
	MaxMs   float64   `json:"max_ms"`
	Samples []float64 `json:"samples_ms"` // sorted
}

// NewDist summarizes samples (milliseconds).
func NewDist(samples []float64) Dist {
	s := slices.Clone(samples)
	slices.Sort(s)
	d := Dist{Count: len(s), Samples: s}
	if len(s) == 0 {
		return d
	}
	d.P50Ms, d.P90Ms, d.P99Ms, d.MaxMs = nearestRank(s, 50), nearestRank(s, 90), nearestRank(s, 99), s[len(s)-1]
	return d
}

// nearestRank is the pth percentile of sorted samples: the smallest
// sample with at least p% of the samples at or below it.
func nearestRank(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// FailoverRow is one kind of measurement over the run's events.
type FailoverRow struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Events      int    `json:"events"`
	First       Dist   `json:"first"` // per event: the earliest of its partitions' first acks
	All         Dist   `json:"all"`   // per event: the latest of its partitions' first acks
	Gap         Dist   `json:"gap"`   // per event: the longest ack gap on any of its partitions
	TimedOut    int    `json:"timed_out"`
}

// failoverRowSpecs are the rows: which events, which partitions.
var failoverRowSpecs = []struct {
	name, kind, role, desc string
}{
	{"kill9-leader", EventKillLeader, RoleLeader, "kill -9 of a leader (not the controller): the partitions it led"},
	{"kill9-controller", EventKillController, RoleLeader, "kill -9 of the controller's broker: the partitions it led"},
	{"sigterm-leader", EventTermLeader, RoleLeader, "SIGTERM (controlled shutdown) of a leader: the partitions it led"},
	{"kill9-follower-stall", EventKillLeader, RoleFollower, "the kill9-leader events: the partitions the victim only followed (acks=-1 stall until the ISR shrinks)"},
}

// FailoverRows computes the rows from events. A timed-out partition
// counts in TimedOut and not in the distributions.
func FailoverRows(events []FailoverEvent) []FailoverRow {
	var rows []FailoverRow
	for _, spec := range failoverRowSpecs {
		row := FailoverRow{Name: spec.name, Description: spec.desc}
		var first, all, gap []float64
		for _, e := range events {
			if e.Kind != spec.kind {
				continue
			}
			lo, hi, g, n := math.Inf(1), 0.0, 0.0, 0
			for _, s := range e.Partitions {
				if s.Role != spec.role {
					continue
				}
				if s.TimedOut {
					row.TimedOut++
					continue
				}
				lo, hi, g, n = min(lo, s.FirstAckMs), max(hi, s.FirstAckMs), max(g, s.GapMs), n+1
			}
			if n == 0 {
				continue
			}
			row.Events++
			first, all, gap = append(first, lo), append(all, hi), append(gap, g)
		}
		row.First, row.All, row.Gap = NewDist(first), NewDist(all), NewDist(gap)
		rows = append(rows, row)
	}
	return rows
}

// FailoverCheck is the final read's verdict (streamcheck.Check).
type FailoverCheck struct {
	Acked      int      `json:"acked"`
	Read       int      `json:"read"`
	Lost       int      `json:"lost"`
	Duplicates int      `json:"duplicates"`
	Moved      int      `json:"moved"`
	Gaps       int      `json:"gaps"`
	Reorders   int      `json:"reorders"`
	Foreign    int      `json:"foreign"`
	Problems   []string `json:"problems"`
}

// FailoverSettings is what a run was made with.
type FailoverSettings struct {
	Partitions       int               `json:"partitions"`
	Producers        int               `json:"producers"`
	RatePerProducer  int               `json:"rate_per_producer"`
	Kills            int               `json:"kills"`
	ControllerKills  int               `json:"controller_kills"`
	Terminates       int               `json:"terminates"`
	DownMs           float64           `json:"down_ms"`
	MetadataMinAgeMs float64           `json:"metadata_min_age_ms"`
	RetryBackoffMs   float64           `json:"retry_backoff_ms"` // 0: kgo's default
	Properties       map[string]string `json:"broker_properties"`
}

// retryBackoff names the producers' retry backoff.
func (s FailoverSettings) retryBackoff() string {
	if s.RetryBackoffMs == 0 {
		return "kgo's default (250 ms doubling, jittered)"
	}
	return fmt.Sprintf("%.0f ms", s.RetryBackoffMs)
}

func (c FailoverConfig) summary() FailoverSettings {
	props := map[string]string{}
	for _, m := range []map[string]string{FailoverProperties, c.Properties} {
		for k, v := range m {
			props[k] = v
		}
	}
	return FailoverSettings{Partitions: c.Partitions, Producers: c.Producers, RatePerProducer: c.Rate, Kills: c.Kills,
		ControllerKills: c.ControllerKills, Terminates: c.Terminates, DownMs: ms(c.Down),
		MetadataMinAgeMs: ms(c.MetadataMinAge), RetryBackoffMs: ms(c.RetryBackoff), Properties: props}
}

// FailoverResult is the "failover" section of results.json.
type FailoverResult struct {
	Config             FailoverSettings `json:"config"`
	Rows               []FailoverRow    `json:"rows"`
	Check              FailoverCheck    `json:"check"`
	ProduceErrors      int              `json:"produce_errors"`
	FirstProduceErrors []string         `json:"first_produce_errors"`
	Events             []FailoverEvent  `json:"events"`
}

func (r *FailoverResult) finish(c streamcheck.Result, nErrs int, firstErrs []string) {
	r.Rows = FailoverRows(r.Events)
	r.Check = FailoverCheck{Acked: c.Acked, Read: c.Read, Lost: c.Lost, Duplicates: c.Duplicates, Moved: c.Moved,
		Gaps: c.Gaps, Reorders: c.Reorders, Foreign: c.Foreign, Problems: c.Problems()}
	r.ProduceErrors, r.FirstProduceErrors = nErrs, firstErrs
}

// OK reports whether the data check passed and no produce failed.
func (r *FailoverResult) OK() bool { return len(r.Check.Problems) == 0 && r.ProduceErrors == 0 }

// WriteFailoverTable prints the rows and the check.
func WriteFailoverTable(w io.Writer, r *FailoverResult) {
	fmt.Fprintf(w, "\nfailover: 3 brokers RF=3 min.insync=2, %d partitions, %d idempotent acks=-1 producers at %d rec/s each, metadata min age %.0f ms, retry backoff %s\n",
		r.Config.Partitions, r.Config.Producers, r.Config.RatePerProducer, r.Config.MetadataMinAgeMs, r.Config.retryBackoff())
	fmt.Fprintln(w, "first = event -> first ack of a record sent after it, earliest partition; all = latest partition; gap = longest ack gap (ms)")
	fmt.Fprintf(w, "\n%-22s %6s | %8s %8s %8s %8s | %8s %8s %8s | %8s %8s %8s | %s\n", "row", "events",
		"first50", "first90", "first99", "firstmax", "all50", "all99", "allmax", "gap50", "gap99", "gapmax", "timeouts")
	for _, row := range r.Rows {
		fmt.Fprintf(w, "%-22s %6d | %8.0f %8.0f %8.0f %8.0f | %8.0f %8.0f %8.0f | %8.0f %8.0f %8.0f | %d\n", row.Name, row.Events,
			row.First.P50Ms, row.First.P90Ms, row.First.P99Ms, row.First.MaxMs, row.All.P50Ms, row.All.P99Ms, row.All.MaxMs,
			row.Gap.P50Ms, row.Gap.P99Ms, row.Gap.MaxMs, row.TimedOut)
	}
	c := r.Check
	fmt.Fprintf(w, "\ndata check: %d acknowledged, %d read; lost %d, duplicates %d, moved %d, offset gaps %d, reordered %d, foreign %d; produce errors %d\n",
		c.Acked, c.Read, c.Lost, c.Duplicates, c.Moved, c.Gaps, c.Reorders, c.Foreign, r.ProduceErrors)
	for _, p := range c.Problems {
		fmt.Fprintln(w, "  problem:", p)
	}
	for _, e := range r.FirstProduceErrors {
		fmt.Fprintln(w, "  produce error:", e)
	}
}
