// Package itest runs the built chronik binary as a separate process and
// drives it with real Kafka clients (franz-go, kcat, confluent-kafka-python)
// and with raw wire requests.
//
// The binary is taken from $CHRONIK_BIN (make test sets it); without it,
// the first StartBroker call of the test process builds ../cmd/chronik into
// a temporary directory. Every broker a test starts is stopped by its pid in
// t.Cleanup, and its stderr is printed when the test fails.
package itest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Timeouts of the harness itself.
const (
	startTimeout = 30 * time.Second // process start until Metadata answers
	stopTimeout  = 30 * time.Second // SIGTERM until exit
	killTimeout  = 10 * time.Second // SIGKILL until the process is reaped
	logTailBytes = 64 << 10         // how much of stderr a failure prints
)

// Options configure StartBroker. The zero value is a standalone broker with
// default settings and a fresh data directory.
type Options struct {
	// DataDir is the broker's --data-dir; empty means a new t.TempDir().
	DataDir string
	// Config, when not nil, is written as a Java properties file and passed
	// with --config. Keys are Kafka's names (socket.request.max.bytes, ...).
	Config map[string]string
	// ExtraArgs are appended to the serve command line.
	ExtraArgs []string
}

// Broker is one chronik process, and after Restart its successor on the
// same port and data directory. Its methods must be called from the test's
// goroutine or with the caller's own synchronisation.
type Broker struct {
	t       testing.TB
	bin     string
	addr    string
	args    []string
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been reaped
	werr error         // cmd.Wait's result, valid after done is closed
	runs int
	// logShown is set once a failure message carried the broker's stderr,
	// so cleanup does not print it twice.
	logShown bool
}

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// binaryPath returns the chronik binary to run: $CHRONIK_BIN, or one built
// from ../cmd/chronik once per test process.
func binaryPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CHRONIK_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("CHRONIK_BIN=%s: %v (run `make build`)", p, err)
		}
		return p
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "chronik-itest-bin-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "chronik")
		cmd := exec.Command("go", "build", "-o", buildBin, "../cmd/chronik")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ../cmd/chronik: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("no CHRONIK_BIN and building the broker failed: %v", buildErr)
	}
	return buildBin
}

// removeBuiltBinary deletes the binary built by binaryPath, if any. TestMain
// calls it after the tests ran.
func removeBuiltBinary() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// writeProperties writes kv as a Java properties file in dir.
func writeProperties(t testing.TB, dir string, kv map[string]string) string {
	t.Helper()
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# written by itest\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, kv[k])
	}
	path := filepath.Join(dir, "broker.properties")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatalf("write config: %v", err)
	}
	return path
}

// StartBroker starts `chronik serve` on a free 127.0.0.1 port and returns
// once a franz-go client gets a Metadata answer from it. The process is
// killed (by pid) in t.Cleanup if the test left it running.
func StartBroker(t testing.TB, opts Options) *Broker {
	t.Helper()
	bin := binaryPath(t)
	work := t.TempDir()
	dataDir := opts.DataDir
	if dataDir == "" {
		dataDir = filepath.Join(work, "data")
	}
	b := &Broker{
		t:       t,
		bin:     bin,
		addr:    freeAddr(t),
		logPath: filepath.Join(work, "broker.stderr"),
	}
	b.args = []string{"serve", "--listen", b.addr, "--data-dir", dataDir}
	if opts.Config != nil {
		b.args = append(b.args, "--config", writeProperties(t, work, opts.Config))
	}
	b.args = append(b.args, opts.ExtraArgs...)
	t.Cleanup(b.cleanup)
	b.start()
	return b
}

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return b.addr }

// Pid is the pid of the current process, 0 if none runs.
func (b *Broker) Pid() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return 0
	}
	return b.cmd.Process.Pid
}

// start launches one process and waits until it serves Metadata.
func (b *Broker) start() {
	b.t.Helper()
	logf, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.t.Fatalf("open broker log: %v", err)
	}
	b.runs++
	fmt.Fprintf(logf, "=== itest: run %d: %s %s\n", b.runs, b.bin, strings.Join(b.args, " "))
	cmd := exec.Command(b.bin, b.args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		b.t.Fatalf("start %s: %v", b.bin, err)
	}
	done := make(chan struct{})
	b.mu.Lock()
	b.cmd, b.done = cmd, done
	b.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		b.mu.Lock()
		b.werr = err
		b.mu.Unlock()
		close(done)
	}()
	if err := b.waitReady(done); err != nil {
		log := b.logTail()
		hint := ""
		if strings.Contains(log, "address already in use") && b.runs > 1 {
			hint = " (a restarted broker must bind with SO_REUSEADDR, e.g. gnet.WithReuseAddr(true), while the old connections sit in TIME_WAIT)"
		}
		b.t.Fatalf("broker run %d on %s not ready: %v%s\n%s", b.runs, b.addr, err, hint, log)
	}
}

// waitReady polls until a kgo client gets Metadata, the process exits, or
// startTimeout passes.
func (b *Broker) waitReady(done <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("process exited during start: %v", b.exitErr())
		default:
		}
		if last = b.probe(); last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not serving after %v: %v", startTimeout, last)
}

// probe dials the port, then asks for Metadata with a short-lived client.
func (b *Broker) probe() error {
	c, err := net.DialTimeout("tcp", b.addr, time.Second)
	if err != nil {
		return err
	}
	c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.RequestRetries(0))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if len(resp.Brokers) == 0 {
		return errors.New("metadata lists no brokers")
	}
	return nil
}

func (b *Broker) exitErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.werr
}

// running returns the current process's done channel, failing the test if
// there is no live process.
func (b *Broker) running(op string) (*exec.Cmd, chan struct{}) {
	b.t.Helper()
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.mu.Unlock()
	if cmd == nil {
		b.t.Fatalf("%s: broker is not running", op)
	}
	select {
	case <-done:
		b.t.Fatalf("%s: broker exited unexpectedly: %v\n%s", op, b.exitErr(), b.logTail())
	default:
	}
	return cmd, done
}

// Kill crashes the broker with SIGKILL and waits until it is reaped.
func (b *Broker) Kill() {
	b.t.Helper()
	cmd, done := b.running("Kill")
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		b.t.Fatalf("kill -9 %d: %v", cmd.Process.Pid, err)
	}
	select {
	case <-done:
	case <-time.After(killTimeout):
		b.t.Fatalf("pid %d not reaped %v after SIGKILL", cmd.Process.Pid, killTimeout)
	}
	b.mu.Lock()
	b.cmd = nil
	b.mu.Unlock()
}

// Stop sends SIGTERM and fails the test unless the broker exits with
// status 0 within stopTimeout.
func (b *Broker) Stop() {
	b.t.Helper()
	cmd, done := b.running("Stop")
	pid := cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		b.t.Fatalf("SIGTERM %d: %v", pid, err)
	}
	select {
	case <-done:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-done
		b.t.Fatalf("pid %d did not exit %v after SIGTERM\n%s", pid, stopTimeout, b.logTail())
	}
	b.mu.Lock()
	b.cmd = nil
	b.mu.Unlock()
	if err := b.exitErr(); err != nil {
		b.t.Fatalf("graceful shutdown of pid %d: want exit status 0, got %v\n%s", pid, err, b.logTail())
	}
}

// Restart starts the broker again on the same port and data directory. The
// previous process must have been stopped with Kill or Stop.
func (b *Broker) Restart() {
	b.t.Helper()
	b.mu.Lock()
	live := b.cmd != nil
	b.mu.Unlock()
	if live {
		b.t.Fatalf("Restart: the previous process still runs; Kill or Stop it first")
	}
	b.start()
}

// cleanup kills a process the test left running, then prints the broker's
// stderr if the test failed.
func (b *Broker) cleanup() {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	if cmd != nil {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-done:
		case <-time.After(killTimeout):
			b.t.Errorf("pid %d not reaped after SIGKILL", cmd.Process.Pid)
		}
	}
	if b.t.Failed() && !b.logShown {
		b.t.Logf("broker %s stderr (%s):\n%s", b.addr, b.logPath, b.logTail())
	}
}

// logTail returns the last logTailBytes of the broker's stderr.
func (b *Broker) logTail() string {
	b.logShown = true
	data, err := os.ReadFile(b.logPath)
	if err != nil {
		return fmt.Sprintf("(no broker log: %v)", err)
	}
	if len(data) > logTailBytes {
		data = append([]byte("...\n"), data[len(data)-logTailBytes:]...)
	}
	return string(data)
}
