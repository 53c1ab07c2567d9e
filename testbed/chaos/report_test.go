package chaos

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFailoverGapsAndTimeline(t *testing.T) {
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	var acks []Ack
	// partition 0 acknowledges every 100 ms but for 1000-2500; partition 1
	// every 100 ms but for 4000-4300.
	for n := 0; n <= 6000; n += 100 {
		if n <= 1000 || n >= 2500 {
			acks = append(acks, Ack{Partition: 0, At: ms(n)})
		}
		if n <= 4000 || n >= 4300 {
			acks = append(acks, Ack{Partition: 1, At: ms(n)})
		}
	}
	events := []FaultEvent{ // in the order they ran, as a run records them
		{N: 1, Kind: "kill-leader", Affected: []int32{0}, Start: ms(1050), End: ms(2000)},
		// begins inside fault 1's stretch of silence (1000-2500), which
		// began before fault 1 ended: not this one's
		{N: 2, Kind: "client-cut", Affected: []int32{0}, Start: ms(2200), End: ms(2300)},
		{N: 3, Kind: "kill-controller", Start: ms(3900), End: ms(4100)}, // every partition
		{N: 4, Kind: "pause-leader", Affected: []int32{1}, Start: ms(5000), End: ms(5200)},
	}
	gaps := FailoverGaps(acks, events, 2)
	want := []time.Duration{1500 * time.Millisecond, 100 * time.Millisecond, 300 * time.Millisecond, 100 * time.Millisecond}
	for i, g := range gaps {
		if g.Gap != want[i] {
			t.Errorf("fault %d gap %v, want %v", g.N, g.Gap, want[i])
		}
	}
	med, p90, worst := GapStats(gaps)
	if med != 300*time.Millisecond || worst != 1500*time.Millisecond || p90 != worst {
		// 100, 100, 300, 1500
		t.Errorf("gap stats %v %v %v", med, p90, worst)
	}
	tl := Timeline(acks, t0, time.Second)
	if len(tl) != 7 || tl[0].Acked != 20 || tl[1].Acked != 11 || tl[2].Acked != 15 {
		t.Errorf("timeline %+v", tl)
	}
}

func TestResultsWriteAReport(t *testing.T) {
	in := clean()
	in.Acks = append(in.Acks, Ack{0, 3, Value{2, 0}, t0.Add(time.Second)})
	res := &Results{Seed: 42, Brokers: 3, Start: t0, End: t0.Add(10 * time.Second), Check: Check(in, 10),
		Events:   []FaultEvent{{N: 1, Kind: "kill-leader", Start: t0.Add(time.Second), End: t0.Add(2 * time.Second)}},
		Timeline: Timeline(in.Acks, t0, TimelineSlot), KindCounts: map[string]int{"kill-leader": 1}}
	res.Gaps = FailoverGaps(in.Acks, res.Events, 2)
	res.Summary = res.Check.Summary(res.Events, t0)
	dir := t.TempDir()
	if err := res.Write(dir); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "REPORT.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"seed 42: FAIL", "| lost | 1 |", "| cluster did not heal | 0 |", "lost: partition 0 offset 3 value p2/0", "![timeline](timeline.svg)", "| kill-leader | 1 |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("REPORT.md lacks %q:\n%s", want, md)
		}
	}
	clean := &Results{Check: Check(clean(), 10), Start: t0, End: t0}
	if !clean.OK() || !strings.Contains(clean.Markdown(false), ": PASS") {
		t.Error("a clean run does not pass")
	}
	clean.Unhealed = 1
	if clean.OK() || !strings.Contains(clean.Markdown(false), ": FAIL") || !strings.Contains(clean.Markdown(false), "| cluster did not heal | 1 |") {
		t.Error("a run whose cluster did not heal passes")
	}
	for _, f := range []string{"results.json", "timeline.svg", "timeline.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}
