package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/chronik/chronik/perf"
)

// ProfileRun starts Chronik (peers.AdminListen must be set), runs sc once
// and captures profiles into dir over the measured window (for consume,
// over the read; its length is not known ahead, so the CPU profile covers
// a fixed 10 s from the start of the read).
func ProfileRun(ctx context.Context, peers Peers, sc Scenario, dir string, progress io.Writer) (Run, error) {
	if !peers.AdminListen {
		return Run{}, errors.New("profile run needs the admin listener")
	}
	pr, err := peers.Start(ctx, Chronik, sc)
	if err != nil {
		return Run{}, err
	}
	defer pr.Stop()
	c := &perf.Capturer{AdminAddr: pr.AdminAddr, Dir: dir}
	window := sc.Duration
	if sc.Kind == KindConsume {
		window = 10e9
	}
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
