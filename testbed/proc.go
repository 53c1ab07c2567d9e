package testbed

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Timeouts of process handling.
const (
	StopTimeout  = 30 * time.Second // SIGTERM until exit
	KillTimeout  = 10 * time.Second // SIGKILL until reaped
	LogTailBytes = 64 << 10         // how much of a log LogTail returns
)

// Proc is one run of a program at a time: Start launches it with stdout and
// stderr appended to LogPath, a reaper goroutine waits for it, and the
// signal methods act on its pid only. After the process exited (or was
// killed) Start may launch it again with the same arguments. Methods are
// safe for concurrent use.
type Proc struct {
	Bin     string
	Args    []string
	LogPath string
	Env     []string // extra environment, appended to os.Environ()

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been reaped
	werr error         // cmd.Wait's result, valid after done is closed
	runs int
}

// Start launches the program; it fails if a run is still live.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("start %s: pid %d still runs", p.Bin, p.cmd.Process.Pid)
		}
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	p.runs++
	fmt.Fprintf(logf, "=== testbed: run %d: %s %s\n", p.runs, p.Bin, strings.Join(p.Args, " "))
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), p.Env...)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.Bin, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.werr = cmd, done, nil
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.werr = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// Runs is how many times Start launched the program.
func (p *Proc) Runs() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runs
}

// Pid is the live process's pid, 0 if none runs.
func (p *Proc) Pid() int {
	cmd, done := p.current()
	if cmd == nil {
		return 0
	}
	select {
	case <-done:
		return 0
	default:
		return cmd.Process.Pid
	}
}

func (p *Proc) current() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

// Done is closed when the current run has exited (nil before any Start).
func (p *Proc) Done() <-chan struct{} {
	_, done := p.current()
	return done
}

// ExitErr is the last run's exit error (nil for status 0 or while it runs).
func (p *Proc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.werr
}

// live returns the running process or an error naming op.
func (p *Proc) live(op string) (*exec.Cmd, chan struct{}, error) {
	cmd, done := p.current()
	if cmd == nil {
		return nil, nil, fmt.Errorf("%s: not started", op)
	}
	select {
	case <-done:
		return nil, nil, fmt.Errorf("%s: pid %d already exited: %v", op, cmd.Process.Pid, p.ExitErr())
	default:
	}
	return cmd, done, nil
}

// Signal sends sig to the live process.
func (p *Proc) Signal(sig syscall.Signal) error {
	cmd, _, err := p.live("signal " + sig.String())
	if err != nil {
		return err
	}
	return syscall.Kill(cmd.Process.Pid, sig)
}

// Kill sends SIGKILL and waits until the process is reaped.
func (p *Proc) Kill() error {
	cmd, done, err := p.live("kill")
	if err != nil {
		return err
	}
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill -9 %d: %w", cmd.Process.Pid, err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(KillTimeout):
		return fmt.Errorf("pid %d not reaped %v after SIGKILL", cmd.Process.Pid, KillTimeout)
	}
}

// Pause stops the process with SIGSTOP (it keeps its sockets, answers
// nothing); Continue resumes it.
func (p *Proc) Pause() error { return p.Signal(syscall.SIGSTOP) }

// Continue resumes a paused process with SIGCONT.
func (p *Proc) Continue() error { return p.Signal(syscall.SIGCONT) }

// Terminate sends SIGTERM (and SIGCONT, in case it is paused) and waits
// StopTimeout for the exit; past it the process is killed. The error is
// the exit status when it was not 0.
func (p *Proc) Terminate() error {
	cmd, done, err := p.live("terminate")
	if err != nil {
		return err
	}
	pid := cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGTERM %d: %w", pid, err)
	}
	_ = syscall.Kill(pid, syscall.SIGCONT)
	select {
	case <-done:
	case <-time.After(StopTimeout):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("pid %d did not exit %v after SIGTERM", pid, StopTimeout)
	}
	if err := p.ExitErr(); err != nil {
		return fmt.Errorf("pid %d exit: %w", pid, err)
	}
	return nil
}

// Shutdown terminates the process if it still runs (see Terminate), or
// returns its exit status if it already exited, e.g. because a terminal's
// Ctrl-C reached it directly.
func (p *Proc) Shutdown() error {
	cmd, done := p.current()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		if err := p.ExitErr(); err != nil {
			return fmt.Errorf("pid %d exit: %w", cmd.Process.Pid, err)
		}
		return nil
	default:
		return p.Terminate()
	}
}

// Reap kills a live process (if any) and waits for it; for cleanup paths.
func (p *Proc) Reap() error {
	cmd, done := p.current()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
	select {
	case <-done:
		return nil
	case <-time.After(KillTimeout):
		return errors.New("not reaped after SIGKILL")
	}
}

// LogTail returns the last LogTailBytes of the log.
func (p *Proc) LogTail() string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(data) > LogTailBytes {
		data = append([]byte("...\n"), data[len(data)-LogTailBytes:]...)
	}
	return string(data)
}

// ChronikBin returns $CHRONIK_BIN, or builds cmd/chronik into dir (from
// inside the module, as tests run) and returns its path.
func ChronikBin(dir string) (string, error) {
	if bin := os.Getenv("CHRONIK_BIN"); bin != "" {
		return bin, nil
	}
	bin := dir + "/chronik"
	out, err := exec.Command("go", "build", "-o", bin, "github.com/chronik/chronik/cmd/chronik").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build cmd/chronik: %v\n%s", err, out)
	}
	return bin, nil
}

// ChronikDebugBin is ChronikBin for bin/chronik-debug (the broker with the
// test hooks: -tags chronikdebug): $CHRONIK_DEBUG_BIN, or one built into
// dir.
func ChronikDebugBin(dir string) (string, error) {
	if bin := os.Getenv("CHRONIK_DEBUG_BIN"); bin != "" {
		return bin, nil
	}
	bin := dir + "/chronik-debug"
	out, err := exec.Command("go", "build", "-tags", "chronikdebug", "-o", bin, "github.com/chronik/chronik/cmd/chronik").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build -tags chronikdebug cmd/chronik: %v\n%s", err, out)
	}
	return bin, nil
}
