package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/chronik/chronik/wal"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// clean is a run without faults in its data: producer 1 wrote seqs 0-5
// over partitions 0 and 1, all acknowledged, read concurrently and in two
// final reads.
func clean() Input {
	var in Input
	final := map[int32][]Read{}
	next := map[int32]int64{}
	for seq := range int64(6) {
		p := int32(seq % 2)
		v := Value{1, seq}
		at := t0.Add(time.Duration(seq) * time.Millisecond)
		in.Acks = append(in.Acks, Ack{p, next[p], v, at})
		final[p] = append(final[p], Read{Reader: "final", Partition: p, Offset: next[p], Value: v, At: at})
		in.Reads = append(in.Reads, Read{Reader: "r1", Poll: seq, Partition: p, Offset: next[p], Value: v, At: at})
		next[p]++
	}
	in.Final = []map[int32][]Read{final, copyFinal(final)}
	return in
}

func copyFinal(f map[int32][]Read) map[int32][]Read {
	out := map[int32][]Read{}
	for p, recs := range f {
		out[p] = append([]Read(nil), recs...)
	}
	return out
}

// only checks that exactly the named check flagged, and n records.
func only(t *testing.T, in Input, check string, n int) *Result {
	t.Helper()
	res := Check(in, 10)
	for _, k := range Checks {
		want := 0
		if k == check {
			want = n
		}
		if res.Counts[k] != want {
			t.Errorf("check %s flagged %d, want %d\n%s", k, res.Counts[k], want, res.Summary(in.Faults, t0))
		}
	}
	if (check == "") != res.OK() {
		t.Errorf("OK() = %v", res.OK())
	}
	return res
}

func TestCheckerPassesACleanRun(t *testing.T) {
	res := only(t, clean(), "", 0)
	if res.Acked != 6 || res.Read != 6 || res.FinalRead != 6 {
		t.Fatalf("counted %d acked, %d read, %d final", res.Acked, res.Read, res.FinalRead)
	}
}

func TestCheckerFindsALostRecord(t *testing.T) {
	in := clean()
	in.Acks = append(in.Acks, Ack{0, 3, Value{2, 0}, t0.Add(time.Second)}) // acknowledged, never stored
	in.Faults = []FaultEvent{{N: 1, Kind: "kill-leader", Targets: []int32{2}, Start: t0.Add(900 * time.Millisecond), End: t0.Add(2 * time.Second)}}
	res := only(t, in, CheckLost, 1)
	sum := res.Summary(in.Faults, t0)
	if !strings.Contains(sum, "lost: partition 0 offset 3 value p2/0") || !strings.Contains(sum, "fault 1 kill-leader [2]") {
		t.Fatalf("summary does not name the record and the fault around it:\n%s", sum)
	}
}

func TestCheckerFindsALostRecordInOneFinalReadOnly(t *testing.T) {
	in := clean()
	// The second read lost the tail of partition 1 (a replica behind).
	in.Final[1][1] = in.Final[1][1][:2]
	res := Check(in, 10)
	if res.Counts[CheckLost] != 1 {
		t.Fatalf("lost %d, want 1\n%s", res.Counts[CheckLost], res.Summary(nil, t0))
	}
	// it is also a read that vanished
	if res.Counts[CheckVanished] != 1 {
		t.Fatalf("vanished %d, want 1", res.Counts[CheckVanished])
	}
}

func TestCheckerFindsADuplicate(t *testing.T) {
	in := clean()
	for i := range in.Final {
		p := in.Final[i][0]
		in.Final[i][0] = append(p, Read{Partition: 0, Offset: 3, Value: p[0].Value, At: t0})
	}
	only(t, in, CheckDuplicated, 2) // once per final read
}

func TestCheckerFindsBrokenProducerOrder(t *testing.T) {
	in := clean()
	// partition 0 holds seqs 0, 2, 4 at offsets 0-2; swap 2 and 4 in the
	// log and the acks.
	for i := range in.Final {
		f := in.Final[i][0]
		f[1].Value, f[2].Value = f[2].Value, f[1].Value
	}
	for i := range in.Reads {
		r := &in.Reads[i]
		if r.Partition == 0 && r.Offset == 1 {
			r.Value = Value{1, 4}
		} else if r.Partition == 0 && r.Offset == 2 {
			r.Value = Value{1, 2}
		}
	}
	for i := range in.Acks {
		a := &in.Acks[i]
		if a.Partition == 0 && a.Offset == 1 {
			a.Offset = 2
		} else if a.Partition == 0 && a.Offset == 2 {
			a.Offset = 1
		}
	}
	res := only(t, in, CheckOrder, 1)
	if o := res.Offenders[0]; o.Offset != 2 || o.Value != "p1/2" {
		t.Fatalf("offender %+v, want p1/2 at offset 2", o)
	}
}

func TestCheckerFindsInconsistentOffsets(t *testing.T) {
	in := clean()
	// a reader saw p3/0 at offset 1 of partition 1, which every final read
	// has p1/3 at, and p3/0 at offset 3 after the end (no final holds it:
	// vanished too)
	in.Reads = append(in.Reads, Read{Reader: "r2", Poll: 1, Partition: 1, Offset: 1, Value: Value{1, 1}, At: t0},
		Read{Reader: "r2", Poll: 2, Partition: 1, Offset: 2, Value: Value{1, 5}, At: t0})
	in.Reads[len(in.Reads)-2].Value = Value{1, 5} // offset 1 holds p1/3: r2 got p1/5 there
	in.Reads[len(in.Reads)-1].Value = Value{1, 3} // and p1/3 at offset 2 (which holds p1/5)
	res := only(t, in, CheckInconsistent, 2)
	if !strings.Contains(res.Offenders[0].Detail, "reader r2 has p1/5") {
		t.Fatalf("offender %+v", res.Offenders[0])
	}
	// an ack that names another offset than the log
	in = clean()
	in.Acks[0].Offset = 2 // p1/0 acknowledged at offset 2 of partition 0, which holds p1/4
	only(t, in, CheckInconsistent, 1)
}

func TestCheckerFindsAReadThatVanished(t *testing.T) {
	in := clean()
	// a reader saw offset 3 of partition 0 (p1/6, never acknowledged),
	// which no final read has: read beyond the high watermark of a tail
	// that was truncated.
	in.Reads = append(in.Reads, Read{Reader: "r1", Poll: 9, Partition: 0, Offset: 3, Value: Value{1, 6}, At: t0})
	only(t, in, CheckVanished, 1)
}

func TestCheckerFindsAPollGoingBackwards(t *testing.T) {
	in := clean()
	// r1 got partition 0 offsets 0, 1, 2, then 1 again
	in.Reads = append(in.Reads, Read{Reader: "r1", Poll: 9, Partition: 0, Offset: 1, Value: Value{1, 2}, At: t0})
	res := only(t, in, CheckBackwards, 1)
	if !strings.Contains(res.Offenders[0].Detail, "after offset 2") {
		t.Fatalf("offender %+v", res.Offenders[0])
	}
	// a group member going back to the committed offset is not either
	in.Reads[len(in.Reads)-1].Group = true
	only(t, in, "", 0)
	// another reader starting over is not a poll going backwards
	in = clean()
	in.Reads = append(in.Reads, Read{Reader: "r2", Poll: 1, Partition: 0, Offset: 0, Value: Value{1, 0}, At: t0})
	only(t, in, "", 0)
}

func TestCheckerFindsAGapAndGarbage(t *testing.T) {
	in := clean()
	for i := range in.Final {
		in.Final[i][1][2].Offset = 4 // offsets 0, 1, 4
	}
	in.Reads = in.Reads[:0] // the reader's offsets would be inconsistent with the moved record
	in.Acks[5].Offset = 4
	only(t, in, CheckGap, 2)

	in = clean()
	in.Final[0][0] = append(in.Final[0][0], Read{Partition: 0, Offset: 3, Raw: "junk"})
	res := Check(in, 10)
	if res.Counts[CheckGarbage] != 1 {
		t.Fatalf("garbage %d, want 1", res.Counts[CheckGarbage])
	}
}

func TestValueRoundTrip(t *testing.T) {
	v := Value{12, 345678}
	got, ok := DecodeValue(v.Encode())
	if !ok || got != v {
		t.Fatalf("decoded %v %v", got, ok)
	}
	if _, ok := DecodeValue([]byte("junk")); ok {
		t.Fatal("decoded junk")
	}
}

func TestKeepBoundsOffendersButCountsAll(t *testing.T) {
	in := clean()
	in.Final[0] = map[int32][]Read{}
	in.Final[1] = map[int32][]Read{}
	res := Check(in, 2)
	if res.Counts[CheckLost] != 6 || len(res.Offenders) > 2*len(Checks) {
		t.Fatalf("lost %d, %d offenders kept", res.Counts[CheckLost], len(res.Offenders))
	}
	lost := 0
	for _, o := range res.Offenders {
		if o.Check == CheckLost {
			lost++
		}
	}
	if lost != 2 {
		t.Fatalf("kept %d lost offenders, want 2", lost)
	}
}

func TestCheckerFindsReplicasThatDiffer(t *testing.T) {
	res := Check(clean(), 10)
	same := wal.PartitionComparison{Name: "chaos-3", A: "n1/chaos-3", B: "n2/chaos-3", EndA: 10, EndB: 10}
	CheckReplicaLogs(res, []wal.PartitionComparison{same}, 10)
	if !res.OK() {
		t.Fatalf("equal replicas flagged: %+v", res.Offenders)
	}
	diff := same
	diff.Diff = &wal.BatchDiff{Offset: 4, What: "partitionLeaderEpoch 3 vs 4"}
	short := same
	short.Name, short.A, short.B, short.OnlyB = "chaos-11", "n1/chaos-11", "n2/chaos-11", []wal.OffsetRange{{From: 8, To: 10}}
	CheckReplicaLogs(res, []wal.PartitionComparison{same, diff, short}, 10)
	if res.Counts[CheckReplicas] != 2 || res.OK() {
		t.Fatalf("replicas-differ %d, want 2", res.Counts[CheckReplicas])
	}
	o := res.Offenders
	if o[0].Partition != 3 || o[0].Offset != 4 || !strings.Contains(o[0].Detail, "partitionLeaderEpoch 3 vs 4") ||
		o[1].Partition != 11 || o[1].Offset != 8 || !strings.Contains(o[1].Detail, "only n2/chaos-11 holds") {
		t.Fatalf("offenders %+v", o)
	}
}
