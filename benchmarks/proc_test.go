package benchmarks

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// burnCPUEnv makes the test binary a child that burns CPU (burnCPUChild).
const burnCPUEnv = "CHRONIK_BENCH_TEST_BURN_CPU_MS"

// burnCPUChild burns ms of CPU on a thread that then exits, and ms more on
// the main thread; it prints the CPU it burned (ns, by the threads' own
// clocks) and its own process CPU clock, then waits for stdin to close.
func burnCPUChild(ms int) {
	d := time.Duration(ms) * time.Millisecond
	// The main goroutine holds the main thread, which never exits, so the
	// goroutine below gets a thread of its own.
	runtime.LockOSThread()
	exited := make(chan time.Duration)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		exited <- burnThreadCPU(d)
	}()
	total := <-exited
	total += burnThreadCPU(d)
	var self unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &self); err != nil {
		panic(err)
	}
	fmt.Println(total.Nanoseconds(), self.Nano())
	io.Copy(io.Discard, os.Stdin)
}

var burnSink uint64

// burnThreadCPU spins until this thread's CPU clock has advanced by d.
func burnThreadCPU(d time.Duration) time.Duration {
	start := threadCPU()
	for threadCPU()-start < d {
		for i := 0; i < 1000; i++ {
			burnSink = burnSink*6364136223846793005 + 1
		}
	}
	return threadCPU() - start
}

func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return time.Duration(ts.Nano())
}

// TestProcCPUCountsEveryThreadOfABusyChild starts a child that burns a
// known amount of CPU, half of it on a thread that exits before the read,
// and checks ReadProcCPU against the child's own process clock, read just
// before it went idle (within 1% + 2 ms: the child does next to nothing
// after it), against the threads' own clocks (at least what they burned),
// and against /proc/<pid>/stat (the same runtime in 10 ms ticks).
func TestProcCPUCountsEveryThreadOfABusyChild(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), burnCPUEnv+"=150")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	var burnedNs, selfNs int64
	if _, err := fmt.Sscan(line, &burnedNs, &selfNs); err != nil {
		t.Fatalf("child said %q: %v", line, err)
	}
	burned, own := time.Duration(burnedNs), time.Duration(selfNs)
	got, err := ReadProcCPU(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if own < burned || got < own || got > own+own/100+2*time.Millisecond {
		t.Fatalf("ReadProcCPU %v; the child's own clock %v; its threads burned %v (half on one that exited)", got, own, burned)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	ticks, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if diff := got - ticks; diff < -10*time.Millisecond || diff > 30*time.Millisecond {
		t.Fatalf("process CPU clock %v, /proc stat utime+stime %v", got, ticks)
	}
	t.Logf("burned %v (half on an exited thread); child's clock %v; ReadProcCPU %v; /proc stat %v", burned, own, got, ticks)
}

// parseStatCPU returns utime+stime (fields 14 and 15, in USER_HZ = 100
// ticks) of /proc/<pid>/stat. The comm field (2) may hold spaces and
// parentheses, so fields are counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
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
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad utime/stime %q %q", f[11], f[12])
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

func TestProcessCPUClockIsTheKernelEncoding(t *testing.T) {
	// MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) = (~pid << 3) | 2.
	if got := processCPUClock(4242); got != -33942 {
		t.Fatalf("clock id of pid 4242 = %d, want -33942", got)
	}
	if _, err := ReadProcCPU(1<<22 + 1); err == nil { // above PID_MAX_LIMIT
		t.Fatal("CPU clock of a pid that cannot exist read without error")
	}
}

func TestParseStatusHWM(t *testing.T) {
	got, err := parseStatusHWM([]byte("Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1000 kB\n"))
	if err != nil || got != 2048*1024 {
		t.Fatalf("parseStatusHWM = %v, %v", got, err)
	}
	if _, err := parseStatusHWM([]byte("Name:\tx\n")); err == nil {
		t.Fatal("status without VmHWM accepted")
	}
}

func TestReadProcStatsOfThisProcess(t *testing.T) {
	st, err := ReadProcStats(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.PeakRSSBytes < 1<<20 || st.CPUSeconds <= 0 {
		t.Fatalf("implausible stats of a running Go test: %+v", st)
	}
}
