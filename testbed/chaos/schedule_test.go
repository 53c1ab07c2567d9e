package chaos

import (
	"testing"
	"time"
)

func TestScheduleReplaysForASeed(t *testing.T) {
	cfg := ScheduleConfig{Faults: 40, Partitions: 12}
	a, b := NewSchedule(7, cfg), NewSchedule(7, cfg)
	if FormatSchedule(a) != FormatSchedule(b) {
		t.Fatalf("seed 7 gave two schedules:\n%s\n%s", FormatSchedule(a), FormatSchedule(b))
	}
	if FormatSchedule(NewSchedule(8, cfg)) == FormatSchedule(a) {
		t.Fatal("seeds 7 and 8 gave the same schedule")
	}
}

func TestScheduleMixesEveryKindAndKeepsItsBounds(t *testing.T) {
	cfg := ScheduleConfig{Faults: 2 * len(Kinds), Partitions: 5, MinGap: time.Second, MaxGap: 2 * time.Second, MinHold: 3 * time.Second, MaxHold: 4 * time.Second}
	s := NewSchedule(1, cfg)
	counts := map[Kind]int{}
	for i, f := range s {
		counts[f.Kind]++
		if f.N != i+1 || f.Partition < 0 || f.Partition >= 5 {
			t.Errorf("fault %+v: bad number or partition", f)
		}
		if f.Gap < cfg.MinGap || f.Gap >= cfg.MaxGap || f.Hold < cfg.MinHold || f.Hold >= cfg.MaxHold {
			t.Errorf("fault %v out of its bounds", f)
		}
		double := f.Kind == DoubleKillLeader || f.Kind == KillAndIsolate
		if double != (f.Second > 0) || (double && f.Second >= f.Hold) {
			t.Errorf("fault %v: the second fault must start before the first ends, for double faults only", f)
		}
		if (f.Kind == SlowLink || f.Kind == SlowDisk) != (f.Delay > 0) {
			t.Errorf("fault %v: delay for slow links and disks only", f)
		}
	}
	for _, k := range Kinds {
		if counts[k] != 2 {
			t.Errorf("kind %s drawn %d times in two cycles, want 2", k, counts[k])
		}
	}
	only := NewSchedule(3, ScheduleConfig{Faults: 5, Kinds: []Kind{PauseLeader}})
	for _, f := range only {
		if f.Kind != PauseLeader {
			t.Fatalf("drew %s from [pause-leader]", f.Kind)
		}
	}
}
