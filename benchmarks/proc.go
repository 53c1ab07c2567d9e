package benchmarks

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ProcStats are one process's resource figures.
type ProcStats struct {
	CPUSeconds   float64 // on-CPU time of all its threads so far, exited ones included (ns resolution)
	PeakRSSBytes int64   // VmHWM: the largest resident set size so far
}

// ReadProcStats reads pid's CPU clock (ReadProcCPU) and /proc/<pid>/status.
func ReadProcStats(pid int) (ProcStats, error) {
	var st ProcStats
	cpu, err := ReadProcCPU(pid)
	if err != nil {
		return st, err
	}
	st.CPUSeconds = cpu.Seconds()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	if st.PeakRSSBytes, err = parseStatusHWM(status); err != nil {
		return st, fmt.Errorf("pid %d: %w", pid, err)
	}
	return st, nil
}

// cpuClockSched is CPUCLOCK_SCHED of the kernel's CPU-clock ids: the
// scheduler's runtime in nanoseconds (user and system together).
const cpuClockSched = 2

// processCPUClock is the clock id clock_getcpuclockid(3) returns for pid:
// MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) of the kernel's
// include/linux/posix-timers.h.
func processCPUClock(pid int) int32 {
	return int32((^pid)<<3 | cpuClockSched)
}

// ReadProcCPU returns the CPU time pid has used so far, from the kernel's
// process CPU clock: the sum of the scheduler's nanosecond runtime of every
// thread of the process, living ones and (through the process's signal
// struct) those that exited. Any process may read another's process clock.
//
// It replaces utime+stime of /proc/<pid>/stat, which are the same runtime
// rounded to USER_HZ ticks (10 ms): a figure of 0.05 CPU-s was 5 ticks.
// Summing /proc/<pid>/task/*/schedstat would give nanoseconds too, but
// loses the time of every thread that exited before the read.
func ReadProcCPU(pid int) (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(processCPUClock(pid), &ts); err != nil {
		return 0, fmt.Errorf("read CPU clock of pid %d: %w", pid, err)
	}
	return time.Duration(ts.Nano()), nil
}

// parseStatusHWM returns VmHWM from /proc/<pid>/status in bytes.
func parseStatusHWM(status []byte) (int64, error) { return statusKB(status, "VmHWM") }

// statusKB returns field (in kB) of /proc/<pid>/status in bytes.
func statusKB(status []byte, field string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("malformed %s %q", field, v)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed %s %q: %w", field, v, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no %s in /proc status", field)
}
