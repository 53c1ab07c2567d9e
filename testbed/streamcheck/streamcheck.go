// Package streamcheck is the data check of the fault tests and of the
// failover benchmark: record values that carry (producer, seq), and a
// checker of a whole-topic read against what the brokers acknowledged.
// Every acknowledged record must be read exactly once at its acknowledged
// partition and offset, offsets dense, each producer's records in seq
// order within a partition, and nothing else but values of the stream (a
// record that was not acknowledged may be there, once).
//
// Value layout (ValueSize bytes): "p=%04d s=%010d|" then padding derived
// from producer, seq and position, so a torn, mixed-up or foreign value
// does not parse.
//
// Check and Report are pure functions; ReadTopic reads through franz-go.
// Nothing here imports testing: itest and benchmarks both use it.
package streamcheck

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ValueSize is the size of the values Value makes.
const ValueSize = 100

// Value is a ValueSize-byte value carrying (producer, seq), with padding
// derived from both so that a torn or mixed-up value is detected.
func Value(producer, seq int) []byte {
	v := make([]byte, ValueSize)
	n := copy(v, fmt.Sprintf("p=%04d s=%010d|", producer, seq))
	for i := n; i < len(v); i++ {
		v[i] = 'a' + byte((producer*7+seq+i)%26)
	}
	return v
}

// Parse returns the (producer, seq) of a value made by Value, or an error
// if the value is not exactly what Value would have made.
func Parse(v []byte) (Key, error) {
	var k Key
	if len(v) != ValueSize || !bytes.HasPrefix(v, []byte("p=")) {
		return k, fmt.Errorf("value %.24q (%d bytes) is not a pair value", v, len(v))
	}
	p, err1 := strconv.Atoi(string(v[2:6]))
	s, err2 := strconv.Atoi(string(v[9:19]))
	if err := errors.Join(err1, err2); err != nil {
		return k, fmt.Errorf("value %.24q: %w", v, err)
	}
	k.Producer, k.Seq = p, s
	if !bytes.Equal(Value(k.Producer, k.Seq), v) {
		return k, fmt.Errorf("value of producer %d seq %d has corrupt padding", k.Producer, k.Seq)
	}
	return k, nil
}

// Key names one record of the stream.
type Key struct{ Producer, Seq int }

// Placed is where a record was acknowledged (or read).
type Placed struct {
	Partition int32
	Offset    int64
}

// Rec is one record as some reader returned it.
type Rec struct {
	Partition int32
	Offset    int64
	Value     []byte
}

// maxExamples bounds the examples a Result keeps per kind of problem.
const maxExamples = 5

// Result is what Check found: counts per kind of problem, and up to
// maxExamples examples of each.
type Result struct {
	Read, Acked                                      int // records read; records acknowledged
	Lost, Duplicates, Moved, Gaps, Reorders, Foreign int

	lost, dups, moved, gaps, reorders, foreign []string
}

// OK reports whether the read passed every check.
func (r Result) OK() bool { return len(r.Problems()) == 0 }

// Problems is one line per kind of problem found, with examples, in a
// fixed order (Report's).
func (r Result) Problems() []string {
	return Report(r.Duplicates, r.dups, r.lost, r.moved, r.gaps, r.reorders, r.foreign)
}

func note(n *int, l *[]string, format string, args ...any) {
	*n++
	if len(*l) < maxExamples {
		*l = append(*l, fmt.Sprintf(format, args...))
	}
}

// Check checks records read from every partition of a topic from its
// start (recs in read order per partition) against what was acknowledged:
// offsets dense from 0 up to ends[p] (when ends is not nil), every
// acknowledged record present exactly once at its acknowledged partition
// and offset, nothing else but values of producers in the book, and each
// producer's records in seq order within a partition.
func Check(recs []Rec, acked map[Key]Placed, ends map[int32]int64) Result {
	res := Result{Read: len(recs), Acked: len(acked)}
	next := map[int32]int64{} // next offset expected per partition
	seen := map[Key]Placed{}  // where each record was read
	last := map[[2]int]int{}  // (producer, partition) -> last seq
	producers := map[int]bool{}
	for k := range acked {
		producers[k.Producer] = true
	}
	for _, r := range recs {
		if r.Offset != next[r.Partition] {
			note(&res.Gaps, &res.gaps, "partition %d: offset %d after %d", r.Partition, r.Offset, next[r.Partition]-1)
		}
		next[r.Partition] = r.Offset + 1
		k, err := Parse(r.Value)
		if err == nil && !producers[k.Producer] {
			err = fmt.Errorf("producer %d wrote nothing acknowledged", k.Producer)
		}
		if err != nil {
			note(&res.Foreign, &res.foreign, "partition %d offset %d: %v", r.Partition, r.Offset, err)
			continue
		}
		if prev, dup := seen[k]; dup {
			note(&res.Duplicates, &res.dups, "producer %d seq %d at %d/%d and %d/%d", k.Producer, k.Seq, prev.Partition, prev.Offset, r.Partition, r.Offset)
			continue
		}
		seen[k] = Placed{r.Partition, r.Offset}
		pp := [2]int{k.Producer, int(r.Partition)}
		if s, ok := last[pp]; ok && k.Seq <= s {
			note(&res.Reorders, &res.reorders, "partition %d offset %d: producer %d seq %d after seq %d", r.Partition, r.Offset, k.Producer, k.Seq, s)
		}
		last[pp] = k.Seq
	}
	for p, end := range ends {
		if next[p] != end {
			note(&res.Gaps, &res.gaps, "partition %d read up to offset %d, its end is %d", p, next[p], end)
		}
	}
	for k, at := range acked {
		got, ok := seen[k]
		switch {
		case !ok:
			note(&res.Lost, &res.lost, "producer %d seq %d (acknowledged at %d/%d)", k.Producer, k.Seq, at.Partition, at.Offset)
		case got != at:
			note(&res.Moved, &res.moved, "producer %d seq %d acknowledged at %d/%d, read at %d/%d", k.Producer, k.Seq, at.Partition, at.Offset, got.Partition, got.Offset)
		}
	}
	return res
}

// Report is the problem lines of a stream check: one per kind of problem
// with examples, in a fixed order. nDup is the number of duplicates.
func Report(nDup int, dups, lost, moved, gaps, reorders, foreign []string) []string {
	var problems []string
	for _, k := range []struct {
		what     string
		examples []string
	}{
		{fmt.Sprintf("%d duplicate records", nDup), dups},
		{"acknowledged records lost", lost},
		{"records not at their acknowledged offsets", moved},
		{"offsets not dense", gaps},
		{"records out of produce order", reorders},
		{"records that are not of this stream", foreign},
	} {
		if len(k.examples) > 0 {
			problems = append(problems, fmt.Sprintf("%s, e.g. %v", k.what, k.examples))
		}
	}
	return problems
}

// MatchProblems returns an error unless problems are one per want, each
// mentioning it, in order: how tests say which problems a checker must
// find.
func MatchProblems(problems, want []string) error {
	if len(problems) != len(want) {
		return fmt.Errorf("got problems %q, want %d matching %q", problems, len(want), want)
	}
	for i, w := range want {
		if !strings.Contains(problems[i], w) {
			return fmt.Errorf("problem %d = %q, want it to mention %q", i, problems[i], w)
		}
	}
	return nil
}
