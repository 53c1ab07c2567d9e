package benchmarks

import (
	"os"
	"testing"
)

func TestParseStatCPUCountsFieldsAfterComm(t *testing.T) {
	// comm may contain spaces and parentheses; utime=250, stime=50 ticks.
	stat := "4242 (we ird) (name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 100 1000000 500\n"
	got, err := parseStatCPU([]byte(stat))
	if err != nil || got != 3.0 {
		t.Fatalf("parseStatCPU = %v, %v; want 3.0", got, err)
	}
	if _, err := parseStatCPU([]byte("4242 (x) S 1 2")); err == nil {
		t.Fatal("short stat accepted")
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
	if st.PeakRSSBytes < 1<<20 || st.CPUSeconds < 0 {
		t.Fatalf("implausible stats of a running Go test: %+v", st)
	}
}
