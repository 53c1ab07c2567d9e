package perf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Contention profiling rates used during a capture: one mutex event in
// MutexFraction is sampled; blocking events are sampled once per
// BlockRateNs nanoseconds blocked.
const (
	MutexFraction = 5
	BlockRateNs   = 10_000
)

// Kinds are the profiles a capture writes, with the sample type each
// summary uses ("" = the profile's default).
var Kinds = []struct{ Name, SampleIndex string }{
	{"cpu", "cpu"},
	{"heap", "inuse_space"},
	{"allocs", "alloc_space"},
	{"mutex", "delay"},
	{"block", "delay"},
}

// Capturer fetches profiles from one admin listener.
type Capturer struct {
	AdminAddr string // host:port of chronik serve --admin-listen
	Dir       string // where the profiles are written
	client    http.Client
}

// Start switches contention profiling on and begins a CPU profile of the
// given length. The returned wait function blocks until the CPU profile is
// written, then fetches the other profiles and switches contention
// profiling off.
func (c *Capturer) Start(ctx context.Context, cpuWindow time.Duration) (wait func() error, err error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("capture dir: %w", err)
	}
	if err := c.setContention(ctx, MutexFraction, BlockRateNs); err != nil {
		return nil, err
	}
	secs := max(int(cpuWindow.Round(time.Second)/time.Second), 1)
	cpuDone := make(chan error, 1)
	go func() { cpuDone <- c.fetch(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), "cpu.pb.gz") }()
	return func() error {
		errCPU := <-cpuDone
		var errs []error
		for _, k := range Kinds[1:] {
			errs = append(errs, c.fetch(ctx, "/debug/pprof/"+k.Name, k.Name+".pb.gz"))
		}
		errOff := c.setContention(context.WithoutCancel(ctx), 0, 0)
		return errors.Join(append(errs, errCPU, errOff)...)
	}, nil
}

func (c *Capturer) setContention(ctx context.Context, mutex, block int) error {
	url := fmt.Sprintf("http://%s/debug/contention?mutex_fraction=%d&block_rate_ns=%d", c.AdminAddr, mutex, block)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("set contention profiling: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("set contention profiling: %s", resp.Status)
	}
	return nil
}

// fetch GETs path from the admin listener into file.
func (c *Capturer) fetch(ctx context.Context, path, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.AdminAddr+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("fetch %s: %s: %s", path, resp.Status, body)
	}
	f, err := os.Create(filepath.Join(c.Dir, file))
	if err != nil {
		return fmt.Errorf("create %s: %w", file, err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", file, err)
	}
	return f.Close()
}
