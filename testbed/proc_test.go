package testbed

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestProcKillPauseContinueTerminateRestart(t *testing.T) {
	p := &Proc{Bin: "/bin/sh", Args: []string{"-c", "trap 'exit 0' TERM; echo up-$$; while :; do sleep 0.05; done"},
		LogPath: filepath.Join(t.TempDir(), "log")}
	t.Cleanup(func() { p.Reap() })
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err == nil {
		t.Fatal("second Start while running succeeded")
	}
	waitLog(t, p, "\nup-")
	pid := p.Pid()
	if pid == 0 {
		t.Fatal("no pid")
	}
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	waitState(t, pid, 'T')
	if err := p.Continue(); err != nil {
		t.Fatal(err)
	}
	waitState(t, pid, 'S', 'R')
	if err := p.Terminate(); err != nil {
		t.Fatalf("terminate: %v\n%s", err, p.LogTail())
	}
	if p.Pid() != 0 {
		t.Fatal("pid after exit")
	}
	if err := p.Kill(); err == nil {
		t.Fatal("Kill of an exited process succeeded")
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	for strings.Count(p.LogTail(), "\nup-") < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := p.ExitErr(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("exit after SIGKILL: %v", err)
	}
	if n := strings.Count(p.LogTail(), "\nup-"); n != 2 || p.Runs() != 2 {
		t.Fatalf("log shows %d runs, Runs()=%d", n, p.Runs())
	}
}

// waitState waits until /proc/pid/stat shows one of the states.
func waitState(t *testing.T, pid int, states ...byte) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err == nil {
			s := string(data)
			if i := strings.LastIndexByte(s, ')'); i > 0 && i+2 < len(s) {
				for _, st := range states {
					if s[i+2] == st {
						return
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never reached state %q: %s", pid, states, data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitLog(t *testing.T, p *Proc, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.LogTail(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log never showed %q:\n%s", want, p.LogTail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
