package chaos

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed"
)

// TestChaosShortSchedule runs ten faults of mixed kinds on 3 brokers, RF 3,
// min.insync.replicas 2, under idempotent acks=-1 load with two concurrent
// readers, and checks every record. Seed 40 draws a slow and a failing
// fdatasync (bin/chronik-debug's disk faults), SIGSTOP of the controller
// and of a leader, a one-way cut, a double kill, a leader kill, the
// controller cut off, clients cut from a leader, and a follower cut until
// the ISR drops it before its leader is killed. CHRONIK_CHAOS_SEED picks
// another schedule.
func TestChaosShortSchedule(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-broker cluster through 10 faults (about 2 minutes)")
	}
	bin, err := testbed.ChronikDebugBin(t.TempDir()) // the disk faults switch its /debug/disk
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(40)
	if s := os.Getenv("CHRONIK_CHAOS_SEED"); s != "" {
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	cfg := Config{Bin: bin, Dir: filepath.Join(dir, "cluster"), Partitions: 6, Rate: 150, Faults: 10, Seed: seed, Group: true,
		Schedule: ScheduleConfig{MinGap: time.Second, MaxGap: 2 * time.Second, MinHold: time.Second, MaxHold: 3 * time.Second,
			Kinds: Kinds},
		Log: testWriter{t}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if err := res.Write(dir); err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d:\n%s", seed, res.Summary)
	if len(res.Events) != 10 {
		t.Errorf("%d of 10 faults ran; warnings %v", len(res.Events), res.Warnings)
	}
	if res.Unhealed > 0 {
		t.Errorf("the cluster did not heal %d times: %v", res.Unhealed, res.Warnings)
	}
	if res.Check.Acked == 0 || res.Check.Read == 0 {
		t.Errorf("nothing acknowledged (%d) or read (%d)", res.Check.Acked, res.Check.Read)
	}
	if !res.Check.OK() {
		for i := 1; i <= 3; i++ {
			p := filepath.Join(cfg.Dir, "node-"+strconv.Itoa(i), "broker.log")
			tail := (&testbed.Proc{LogPath: p}).LogTail()
			if len(tail) > 8000 {
				tail = tail[len(tail)-8000:]
			}
			t.Logf("----- %s\n%s", p, tail)
		}
		t.Fatalf("seed %d: checks failed (replay: CHRONIK_CHAOS_SEED=%d)", seed, seed)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}
