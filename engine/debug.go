//go:build chronikdebug

package engine

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/chronik/chronik/wal"
	"github.com/chronik/chronik/wal/vfs/faultfs"
	"golang.org/x/sys/unix"
)

// Test hooks, compiled only into a binary built with -tags chronikdebug
// (make build-debug: bin/chronik-debug, for the benchmark lab's gate tests
// and detection runs). The shipped binary is built without the tag; there
// debug_off.go makes these keys unknown (the --config file and Config.Set
// reject them like any unknown key) and the hooks empty functions the
// compiler removes.
//
// The keys make the broker slower on purpose, by a chosen amount per KiB
// of records, so that tests can show the regression gate failing. A burn
// costs CPU and time: it spins on the request's goroutine, on its own
// thread's CPU clock, so the cost shows in the broker's CPU time exactly
// and delays the answer by at least as much. A delay costs only time: the
// request's goroutine sleeps, once the time owed (by every request since
// the last sleep, process-wide) reaches debugSleepMin, since a shorter
// sleep would take the timer's ~1 ms anyway; the overshoot of each sleep is
// credited, so the time slept per KiB is right on average.
//
//	debug.append.burn.ns.per.kib   before each partition append of a Produce,
//	debug.append.delay.ns.per.kib  per KiB of its record batch
//	debug.fetch.burn.ns.per.kib    before a Fetch answer goes out, per KiB
//	debug.fetch.delay.ns.per.kib   of records in it
//	debug.replica.fetch.delay.ns.per.kib  before a leader's answer to a follower's
//	                               Fetch goes out, per KiB of records in it (the
//	                               leader's send of replication; consumers' fetches
//	                               are not slowed by it)
//	debug.append.burn.ns.per.partition  before each partition append of a Produce,
//	                               burn this much for every partition the broker
//	                               holds: a cost that grows with the partition
//	                               count, as a scan over every partition would
//	debug.append.stall.every       every Nth partition append of a Produce (counted
//	debug.append.stall.us          process-wide) first sleeps stall.us: a rare
//	                               stall, which moves the tail of the latency
//	                               more than its middle or the throughput
//
// BrokerConfigKeys does not list them, so DescribeConfigs does not either.
var debugKeys = map[string]configKey{
	"debug.append.burn.ns.per.kib":         intKey64(func(c *Config) *int64 { return &c.debug.appendBurnNsPerKiB }),
	"debug.append.delay.ns.per.kib":        intKey64(func(c *Config) *int64 { return &c.debug.appendDelayNsPerKiB }),
	"debug.fetch.burn.ns.per.kib":          intKey64(func(c *Config) *int64 { return &c.debug.fetchBurnNsPerKiB }),
	"debug.fetch.delay.ns.per.kib":         intKey64(func(c *Config) *int64 { return &c.debug.fetchDelayNsPerKiB }),
	"debug.replica.fetch.delay.ns.per.kib": intKey64(func(c *Config) *int64 { return &c.debug.replicaFetchDelayNsPerKiB }),
	"debug.append.burn.ns.per.partition":   intKey64(func(c *Config) *int64 { return &c.debug.appendBurnNsPerPartition }),
	"debug.append.stall.every":             intKey64(func(c *Config) *int64 { return &c.debug.appendStallEvery }),
	"debug.append.stall.us":                intKey64(func(c *Config) *int64 { return &c.debug.appendStallMicros }),
}

// debugConfig holds the debug keys' values; 0 = off.
type debugConfig struct {
	appendBurnNsPerKiB, appendDelayNsPerKiB int64
	fetchBurnNsPerKiB, fetchDelayNsPerKiB   int64
	replicaFetchDelayNsPerKiB               int64
	appendBurnNsPerPartition                int64
	appendStallEvery, appendStallMicros     int64
}

func (d debugConfig) validate() error {
	for _, v := range []int64{d.appendBurnNsPerKiB, d.appendDelayNsPerKiB, d.fetchBurnNsPerKiB, d.fetchDelayNsPerKiB, d.replicaFetchDelayNsPerKiB,
		d.appendBurnNsPerPartition, d.appendStallEvery, d.appendStallMicros} {
		if v < 0 {
			return fmt.Errorf("debug.* keys must be >= 0, got %d", v)
		}
	}
	return nil
}

// The time owed to the delay keys, in ns; shared by every broker in the
// process (one, outside tests).
var appendDelayOwed, fetchDelayOwed, replicaFetchDelayOwed atomic.Int64

// appendsSeen counts partition appends for debug.append.stall.every, for
// every broker in the process.
var appendsSeen atomic.Int64

// debugSleepMin is the least time a delay key sleeps at once.
const debugSleepMin = time.Millisecond

// debugAppendCost applies the append keys to a batch of n bytes (no
// engine lock is held).
func (b *Broker) debugAppendCost(n int) {
	d := b.cfg.debug
	burnCPU(d.appendBurnNsPerKiB, n)
	delay(&appendDelayOwed, d.appendDelayNsPerKiB, n)
	if d.appendBurnNsPerPartition > 0 {
		burn(time.Duration(d.appendBurnNsPerPartition * int64(b.partitionsHeld())))
	}
	if d.appendStallEvery > 0 && appendsSeen.Add(1)%d.appendStallEvery == 0 {
		time.Sleep(time.Duration(d.appendStallMicros) * time.Microsecond)
	}
}

// partitionsHeld is the partitions of every topic the broker knows.
func (b *Broker) partitionsHeld() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	n := 0
	for _, t := range b.topics {
		n += len(t.partitions)
	}
	return n
}

// debugFetchCost applies the fetch keys to n record bytes; the replica
// key too when a follower fetched them.
func (b *Broker) debugFetchCost(n int, follower bool) {
	burnCPU(b.cfg.debug.fetchBurnNsPerKiB, n)
	delay(&fetchDelayOwed, b.cfg.debug.fetchDelayNsPerKiB, n)
	if follower {
		delay(&replicaFetchDelayOwed, b.cfg.debug.replicaFetchDelayNsPerKiB, n)
	}
}

// delay adds nsPerKiB for each KiB of n bytes to owed and, once owed
// reaches debugSleepMin, takes all of it and sleeps that long; what the
// sleep overran is subtracted from owed.
func delay(owed *atomic.Int64, nsPerKiB int64, n int) {
	if nsPerKiB <= 0 || n <= 0 {
		return
	}
	owed.Add(nsPerKiB * int64(n) / 1024)
	for {
		d := owed.Load()
		if d < int64(debugSleepMin) {
			return
		}
		if owed.CompareAndSwap(d, 0) {
			start := time.Now()
			time.Sleep(time.Duration(d))
			owed.Add(d - int64(time.Since(start)))
			return
		}
	}
}

// burnCPU spins until this thread has run nsPerKiB for each KiB of n bytes.
// The goroutine stays on its thread meanwhile, so the thread's CPU clock
// counts only its own work, and time spent preempted costs nothing.
func burnCPU(nsPerKiB int64, n int) {
	if nsPerKiB <= 0 || n <= 0 {
		return
	}
	burn(time.Duration(nsPerKiB * int64(n) / 1024))
}

// burn spins until this thread has run d.
func burn(d time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for start := threadCPU(); threadCPU()-start < d; {
	}
}

func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(fmt.Sprintf("debug hook: thread CPU clock: %v", err)) // Linux always has it
	}
	return time.Duration(ts.Nano())
}

// DebugHooks reports whether this binary has the debug hooks: the debug.*
// keys and the disk faults (SetDiskFault).
const DebugHooks = true

// debugState is the broker's switchable disk: every partition log, the
// flush pool and the checkpoints go through it.
type debugState struct{ disk *faultfs.FS }

// debugWrapFS puts the switchable disk between the broker and fsys.
func (b *Broker) debugWrapFS(fsys wal.FS) wal.FS {
	b.dbg.disk = faultfs.New(fsys)
	return b.dbg.disk
}

// SetDiskFault switches the broker's disk fault at run time (admin
// listener: POST /debug/disk): "off", "fsync" (fdatasync, syncfs and
// directory fsync fail with EIO), "write" (pwrite fails too) or "slow"
// (every sync takes delay longer). The data directory's partition logs are
// affected; the metadata Raft log (dragonboat's own files) is not.
func (b *Broker) SetDiskFault(fault string, delay time.Duration) error {
	m, err := faultfs.ParseMode(fault)
	if err != nil {
		return err
	}
	if err := b.dbg.disk.Set(m, delay); err != nil {
		return err
	}
	b.log.Warn("debug: disk fault set", "fault", m.String(), "delay", delay)
	return nil
}

// DiskFault reports the disk fault in force, its delay and how many disk
// operations it failed or delayed so far.
func (b *Broker) DiskFault() (fault string, delay time.Duration, injected int64) {
	m, d, n := b.dbg.disk.State()
	return m.String(), d, n
}
