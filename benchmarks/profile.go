package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/chronik/chronik/perf"
)

// A consume profile reads this many records and profiles CPU over the
// first consumeProfileWindow of the read (about 2 M records/s here).
const (
	consumeProfileRecords = 6_000_000
	consumeProfileWindow  = 2 * time.Second
)

// ProfileRun starts Chronik (peers.AdminListen must be set), runs sc once
// and captures profiles into dir over the measured window. Produce and e2e
// run for window (not a record count) so the CPU profile and the load end
// together. The length of a consume read is not known ahead: it reads
// consumeProfileRecords and the CPU profile covers the first
// consumeProfileWindow of it.
func ProfileRun(ctx context.Context, peers Peers, sc Scenario, window time.Duration, dir string, progress io.Writer) (Run, error) {
	if !peers.AdminListen {
		return Run{}, errors.New("profile run needs the admin listener")
	}
	if sc.Kind == KindConsume {
		sc.Count, window = consumeProfileRecords, consumeProfileWindow
	} else {
		sc.Count, sc.Duration = 0, window
	}
	pr, err := peers.Start(ctx, Chronik, sc)
	if err != nil {
		return Run{}, err
	}
	defer pr.Stop()
	c := &perf.Capturer{AdminAddr: pr.AdminAddr, Dir: dir}
	var wait func() error
	var before, after ProcStats
	var errStart error
	w := Window{
		Start: func() {
			before, _ = pr.Stats()
			wait, errStart = c.Start(ctx, window)
		},
		End: func() { after, _ = pr.Stats() },
	}
	m, err := RunWorkload(ctx, pr.Addr, sc, w, progress, "[profile "+sc.Name+"]")
	if wait != nil {
		err = errors.Join(err, wait())
	}
	if err = errors.Join(err, errStart); err != nil {
		return Run{}, fmt.Errorf("profile %s: %w\n%s", sc.Name, err, pr.logTail())
	}
	return NewRun(sc, Chronik, 0, m, after.CPUSeconds-before.CPUSeconds, after.PeakRSSBytes), nil
}
