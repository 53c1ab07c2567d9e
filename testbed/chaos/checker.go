package chaos

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chronik/chronik/testbed/streamcheck"
	"github.com/chronik/chronik/wal"
)

// Value is what a record carries: the producer that wrote it and the
// producer's sequence number (one sequence per producer across all
// partitions, in the order it handed records to its client).
type Value struct {
	Producer int
	Seq      int64
}

func (v Value) String() string { return fmt.Sprintf("p%d/%d", v.Producer, v.Seq) }

// Encode is the record value bytes of v (streamcheck's layout, as the
// other fault tests write).
func (v Value) Encode() []byte { return streamcheck.Value(v.Producer, int(v.Seq)) }

// DecodeValue parses Encode's bytes.
func DecodeValue(b []byte) (Value, bool) {
	k, err := streamcheck.Parse(b)
	if err != nil {
		return Value{}, false
	}
	return Value{Producer: k.Producer, Seq: int64(k.Seq)}, true
}

// Ack is a record the cluster acknowledged (acks=-1): where and when.
type Ack struct {
	Partition int32     `json:"p"`
	Offset    int64     `json:"o"`
	Value     Value     `json:"v"`
	At        time.Time `json:"t"`
}

// Read is one record a reader got: which poll (the reader's count of
// fetches that returned records), where, what.
type Read struct {
	Reader    string    `json:"r"`
	Poll      int64     `json:"poll"`
	Partition int32     `json:"p"`
	Offset    int64     `json:"o"`
	Value     Value     `json:"v"`
	Raw       string    `json:"raw,omitempty"` // a value that is no Value
	At        time.Time `json:"t"`
	// Group: a consumer group member's read, which may go back to the
	// group's committed offset after a rebalance (not checked backwards).
	Group bool `json:"g,omitempty"`
}

// FaultEvent is a fault as it happened, for the offender context.
type FaultEvent struct {
	N       int     `json:"n"`
	Kind    string  `json:"kind"`
	Targets []int32 `json:"targets"`
	Detail  string  `json:"detail"`
	// Affected is the partitions the targets led when it started (nil:
	// every partition, e.g. the controller was hit).
	Affected []int32   `json:"affected,omitempty"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
}

// Input is everything a run recorded: the acknowledgements, the
// concurrent readers' records, the final full reads after the cluster
// healed (several, through different brokers: Final[i][partition] is read
// i's records of that partition, by offset), and the faults.
type Input struct {
	Acks   []Ack
	Reads  []Read
	Final  []map[int32][]Read
	Faults []FaultEvent
}

// The checks, each per partition.
const (
	CheckLost         = "lost"            // acknowledged, missing from a final read
	CheckDuplicated   = "duplicated"      // one value at two offsets
	CheckOrder        = "order"           // a producer's acknowledged values out of sequence order
	CheckInconsistent = "inconsistent"    // one offset, two different records (two reads, or a read and an ack)
	CheckVanished     = "vanished"        // a reader saw it, no final read holds it (read beyond the HW)
	CheckBackwards    = "backwards"       // a reader's poll returned an offset not above its previous one
	CheckGap          = "offset-gap"      // a final read skips offsets
	CheckGarbage      = "garbage-value"   // a value that no producer writes
	CheckReplicas     = "replicas-differ" // two replicas' logs on disk differ after the run (CheckReplicaLogs)
)

// Checks lists every check in report order.
var Checks = []string{CheckLost, CheckDuplicated, CheckOrder, CheckInconsistent, CheckVanished, CheckBackwards, CheckGap, CheckGarbage, CheckReplicas}

// Offender is one record a check flagged.
type Offender struct {
	Check     string    `json:"check"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Value     string    `json:"value"`
	At        time.Time `json:"at"` // when it was acknowledged or read
	Detail    string    `json:"detail"`
}

// Result is the checker's verdict.
type Result struct {
	Counts    map[string]int `json:"counts"` // offenders per check
	Offenders []Offender     `json:"offenders"`
	Acked     int            `json:"acked"`
	Read      int            `json:"read"`       // records the concurrent readers got
	FinalRead int            `json:"final_read"` // records of the first final read
}

// OK reports whether every check passed.
func (r *Result) OK() bool {
	for _, n := range r.Counts {
		if n > 0 {
			return false
		}
	}
	return true
}

// Check runs every check over in. keep bounds the offenders kept per check
// (all are counted). The replica logs are compared apart (CheckReplicaLogs).
func Check(in Input, keep int) *Result {
	c := &checker{res: &Result{Counts: map[string]int{}}, keep: keep}
	for _, k := range Checks {
		c.res.Counts[k] = 0
	}
	c.res.Acked, c.res.Read = len(in.Acks), len(in.Reads)
	if len(in.Final) > 0 {
		for _, recs := range in.Final[0] {
			c.res.FinalRead += len(recs)
		}
	}
	c.finalReads(in)
	c.lost(in)
	c.order(in)
	c.offsets(in)
	c.vanished(in)
	c.backwards(in)
	c.sortOffenders()
	return c.res
}

// CheckReplicaLogs adds to res the partitions whose replicas differ on
// disk (wal.CompareDirs of two brokers' data directories after the
// brokers stopped): the first differing batch, or offsets only one holds.
func CheckReplicaLogs(res *Result, cmp []wal.PartitionComparison, keep int) {
	c := &checker{res: res, keep: keep}
	for _, o := range res.Offenders {
		if o.Check == CheckReplicas {
			if c.kept == nil {
				c.kept = map[string]int{}
			}
			c.kept[CheckReplicas]++
		}
	}
	for _, pc := range cmp {
		if pc.Equal() {
			continue
		}
		p := int32(-1)
		if i := strings.LastIndexByte(pc.Name, '-'); i >= 0 {
			if n, err := strconv.Atoi(pc.Name[i+1:]); err == nil {
				p = int32(n)
			}
		}
		off, what := pc.EndA, ""
		switch {
		case pc.Diff != nil:
			off, what = pc.Diff.Offset, pc.Diff.What
		case len(pc.OnlyA) > 0:
			off, what = pc.OnlyA[0].From, fmt.Sprintf("only %s holds %v", pc.A, pc.OnlyA)
		case len(pc.OnlyB) > 0:
			off, what = pc.OnlyB[0].From, fmt.Sprintf("only %s holds %v", pc.B, pc.OnlyB)
		}
		c.flag(Offender{Check: CheckReplicas, Partition: p, Offset: off, Detail: fmt.Sprintf("%s vs %s: %s", pc.A, pc.B, what)})
	}
	c.sortOffenders()
}

func (c *checker) sortOffenders() {
	sort.SliceStable(c.res.Offenders, func(i, j int) bool {
		a, b := c.res.Offenders[i], c.res.Offenders[j]
		if a.Check != b.Check {
			return checkIndex(a.Check) < checkIndex(b.Check)
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.Offset < b.Offset
	})
}

func checkIndex(k string) int {
	for i, c := range Checks {
		if c == k {
			return i
		}
	}
	return len(Checks)
}

type checker struct {
	res  *Result
	keep int
	kept map[string]int
}

func (c *checker) flag(o Offender) {
	c.res.Counts[o.Check]++
	if c.kept == nil {
		c.kept = map[string]int{}
	}
	if c.kept[o.Check] < c.keep {
		c.kept[o.Check]++
		c.res.Offenders = append(c.res.Offenders, o)
	}
}

// finalReads checks each final read on its own: dense offsets, no value
// twice, no garbage.
func (c *checker) finalReads(in Input) {
	for i, final := range in.Final {
		for _, p := range sortedPartitions(final) {
			recs := final[p]
			seen := map[Value]int64{}
			for j, r := range recs {
				if r.Raw != "" {
					c.flag(Offender{CheckGarbage, p, r.Offset, r.Raw, r.At, fmt.Sprintf("final read %d", i)})
					continue
				}
				if j > 0 && r.Offset != recs[j-1].Offset+1 {
					c.flag(Offender{CheckGap, p, r.Offset, r.Value.String(), r.At,
						fmt.Sprintf("final read %d: offset %d follows %d", i, r.Offset, recs[j-1].Offset)})
				}
				if prev, dup := seen[r.Value]; dup {
					c.flag(Offender{CheckDuplicated, p, r.Offset, r.Value.String(), r.At,
						fmt.Sprintf("final read %d: also at offset %d", i, prev)})
					continue
				}
				seen[r.Value] = r.Offset
			}
		}
	}
}

// lost: every acknowledged value in every final read of its partition
// (an ack missing from several reads counts once).
func (c *checker) lost(in Input) {
	where := make([]map[int32]map[Value]bool, len(in.Final))
	for i, final := range in.Final {
		where[i] = map[int32]map[Value]bool{}
		for p, recs := range final {
			m := map[Value]bool{}
			for _, r := range recs {
				m[r.Value] = true
			}
			where[i][p] = m
		}
	}
	for _, a := range in.Acks {
		for i := range in.Final {
			if !where[i][a.Partition][a.Value] {
				c.flag(Offender{CheckLost, a.Partition, a.Offset, a.Value.String(), a.At,
					fmt.Sprintf("acknowledged at offset %d, not in final read %d (%d records)", a.Offset, i, len(in.Final[i][a.Partition]))})
				break
			}
		}
	}
}

// order: along the offsets of the first final read, each producer's
// acknowledged values come in increasing sequence order.
func (c *checker) order(in Input) {
	if len(in.Final) == 0 {
		return
	}
	acked := map[Value]bool{}
	for _, a := range in.Acks {
		acked[a.Value] = true
	}
	for _, p := range sortedPartitions(in.Final[0]) {
		last := map[int]Read{}
		seen := map[Value]bool{}
		for _, r := range in.Final[0][p] {
			if r.Raw != "" || !acked[r.Value] || seen[r.Value] { // a second copy is a duplicate
				continue
			}
			seen[r.Value] = true
			if prev, ok := last[r.Value.Producer]; ok && r.Value.Seq <= prev.Value.Seq {
				c.flag(Offender{CheckOrder, p, r.Offset, r.Value.String(), r.At,
					fmt.Sprintf("after %v at offset %d", prev.Value, prev.Offset)})
			}
			if prev, ok := last[r.Value.Producer]; !ok || r.Value.Seq > prev.Value.Seq {
				last[r.Value.Producer] = r
			}
		}
	}
}

type offsetKey struct {
	p int32
	o int64
}

// offsets: one offset, one record, across the acks, the readers and the
// final reads.
func (c *checker) offsets(in Input) {
	type holder struct {
		what, source string
		at           time.Time
	}
	first := map[offsetKey]holder{}
	reported := map[offsetKey]bool{}
	see := func(p int32, o int64, what, source string, at time.Time) {
		k := offsetKey{p, o}
		h, ok := first[k]
		if !ok {
			first[k] = holder{what, source, at}
			return
		}
		if h.what != what && !reported[k] {
			reported[k] = true
			c.flag(Offender{CheckInconsistent, p, o, what, at, fmt.Sprintf("%s has %s, %s has %s", h.source, h.what, source, what)})
		}
	}
	for _, a := range in.Acks {
		see(a.Partition, a.Offset, a.Value.String(), "ack", a.At)
	}
	for i, final := range in.Final {
		for _, p := range sortedPartitions(final) {
			for _, r := range final[p] {
				see(p, r.Offset, readWhat(r), fmt.Sprintf("final read %d", i), r.At)
			}
		}
	}
	for _, r := range in.Reads {
		see(r.Partition, r.Offset, readWhat(r), "reader "+r.Reader, r.At)
	}
}

func readWhat(r Read) string {
	if r.Raw != "" {
		return "raw:" + r.Raw
	}
	return r.Value.String()
}

// vanished: every record a reader got is in every final read (anywhere:
// at another offset it is an inconsistent offset, reported there); once
// per offset however many reads miss it.
func (c *checker) vanished(in Input) {
	have := make([]map[int32]map[Value]bool, len(in.Final))
	for i, final := range in.Final {
		have[i] = map[int32]map[Value]bool{}
		for p, recs := range final {
			m := map[Value]bool{}
			for _, r := range recs {
				m[r.Value] = true
			}
			have[i][p] = m
		}
	}
	reported := map[offsetKey]bool{}
	for _, r := range in.Reads {
		k := offsetKey{r.Partition, r.Offset}
		if r.Raw != "" || reported[k] {
			continue
		}
		for i := range in.Final {
			if !have[i][r.Partition][r.Value] {
				reported[k] = true
				c.flag(Offender{CheckVanished, r.Partition, r.Offset, r.Value.String(), r.At,
					fmt.Sprintf("reader %s poll %d, not in final read %d", r.Reader, r.Poll, i)})
				break
			}
		}
	}
}

// backwards: a reader's records of a partition come at increasing offsets
// from poll to poll.
func (c *checker) backwards(in Input) {
	type rp struct {
		reader string
		p      int32
	}
	last := map[rp]Read{}
	for _, r := range in.Reads {
		if r.Group {
			continue
		}
		k := rp{r.Reader, r.Partition}
		if prev, ok := last[k]; ok && r.Offset <= prev.Offset {
			c.flag(Offender{CheckBackwards, r.Partition, r.Offset, readWhat(r), r.At,
				fmt.Sprintf("reader %s poll %d after offset %d (poll %d)", r.Reader, r.Poll, prev.Offset, prev.Poll)})
		}
		last[k] = r
	}
}

func sortedPartitions(m map[int32][]Read) []int32 {
	ps := make([]int32, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

// FaultsAround returns the faults active within window of t.
func FaultsAround(faults []FaultEvent, t time.Time, window time.Duration) []FaultEvent {
	var out []FaultEvent
	for _, f := range faults {
		end := f.End
		if end.IsZero() {
			end = f.Start
		}
		if !t.Before(f.Start.Add(-window)) && !t.After(end.Add(window)) {
			out = append(out, f)
		}
	}
	return out
}

// Summary prints the verdict: counts, then the first offenders of each
// failed check with the faults around them.
func (r *Result) Summary(faults []FaultEvent, start time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "acknowledged %d, read concurrently %d, final read %d\n", r.Acked, r.Read, r.FinalRead)
	for _, k := range Checks {
		fmt.Fprintf(&b, "  %-14s %d\n", k, r.Counts[k])
	}
	for _, o := range r.Offenders {
		if o.At.IsZero() {
			fmt.Fprintf(&b, "%s: partition %d offset %d: %s\n", o.Check, o.Partition, o.Offset, o.Detail)
			continue
		}
		fmt.Fprintf(&b, "%s: partition %d offset %d value %s at +%v: %s\n", o.Check, o.Partition, o.Offset, o.Value,
			o.At.Sub(start).Round(time.Millisecond), o.Detail)
		for _, f := range FaultsAround(faults, o.At, 5*time.Second) {
			fmt.Fprintf(&b, "    fault %d %s %v %s [+%v, +%v]\n", f.N, f.Kind, f.Targets, f.Detail,
				f.Start.Sub(start).Round(time.Millisecond), f.End.Sub(start).Round(time.Millisecond))
		}
	}
	return b.String()
}
