package benchmarks

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// userHZ is the unit of utime/stime in /proc/<pid>/stat. Linux reports
// these in USER_HZ, which is 100 on every architecture Go supports.
const userHZ = 100

// ProcStats are one process's resource figures read from /proc.
type ProcStats struct {
	CPUSeconds   float64 // user + system CPU time of all its threads so far
	PeakRSSBytes int64   // VmHWM: the largest resident set size so far
}

// ReadProcStats reads /proc/<pid>/stat and /proc/<pid>/status.
func ReadProcStats(pid int) (ProcStats, error) {
	var st ProcStats
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	if st.CPUSeconds, err = parseStatCPU(stat); err != nil {
		return st, fmt.Errorf("pid %d: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	if st.PeakRSSBytes, err = parseStatusHWM(status); err != nil {
		return st, fmt.Errorf("pid %d: %w", pid, err)
	}
	return st, nil
}

// parseStatCPU returns utime+stime (fields 14 and 15) in seconds. The comm
// field (2) may hold spaces and parentheses, so fields are counted from the
// last ')'.
func parseStatCPU(stat []byte) (float64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc stat %q", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14 -> f[11], stime f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat: %d fields after comm", len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	stm, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad utime/stime %q %q", f[11], f[12])
	}
	return float64(ut+stm) / userHZ, nil
}

// parseStatusHWM returns VmHWM from /proc/<pid>/status in bytes.
func parseStatusHWM(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != "VmHWM" {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("malformed VmHWM %q", v)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed VmHWM %q: %w", v, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no VmHWM in /proc status")
}
