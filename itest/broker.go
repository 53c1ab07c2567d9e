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
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronik/chronik/testbed"
)

// Timeouts of the harness itself (process timeouts live in testbed).
const startTimeout = 30 * time.Second // process start until Metadata answers

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
	t    testing.TB
	addr string
	proc *testbed.Proc
	// logShown is set once a failure message carried the broker's stderr,
	// so cleanup does not print it twice.
	logShown bool
}

// builtBinary is a broker binary taken from an environment variable or
// built once per test process.
type builtBinary struct {
	env, name string
	tags      []string
	once      sync.Once
	dir, path string
	err       error
}

var (
	chronikBin      = &builtBinary{env: "CHRONIK_BIN", name: "chronik"}
	chronikDebugBin = &builtBinary{env: "CHRONIK_DEBUG_BIN", name: "chronik-debug", tags: []string{"-tags", "chronikdebug"}}
)

// get returns $env if set (the file must exist), else the binary built
// from ../cmd/chronik (with tags) into a temporary directory.
func (bb *builtBinary) get(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(bb.env); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v (run `make build build-debug`)", bb.env, p, err)
		}
		return p
	}
	bb.once.Do(func() {
		if bb.dir, bb.err = os.MkdirTemp("", "chronik-itest-bin-"); bb.err != nil {
			return
		}
		bb.path = filepath.Join(bb.dir, bb.name)
		args := append(append([]string{"build"}, bb.tags...), "-o", bb.path, "../cmd/chronik")
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			bb.err = fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	})
	if bb.err != nil {
		t.Fatalf("no %s and building the broker failed: %v", bb.env, bb.err)
	}
	return bb.path
}

// remove deletes what get built, if anything.
func (bb *builtBinary) remove() {
	if bb.dir != "" {
		os.RemoveAll(bb.dir)
	}
}

// binaryPath returns the chronik binary to run: $CHRONIK_BIN, or one built
// from ../cmd/chronik once per test process.
func binaryPath(t testing.TB) string { return chronikBin.get(t) }

// debugBinaryPath returns bin/chronik-debug (the broker with the test
// hooks, -tags chronikdebug): $CHRONIK_DEBUG_BIN, or one built once per
// test process.
func debugBinaryPath(t testing.TB) string { return chronikDebugBin.get(t) }

// removeBuiltBinary deletes the binaries built by binaryPath and
// debugBinaryPath, if any. TestMain calls it after the tests ran.
func removeBuiltBinary() {
	chronikBin.remove()
	chronikDebugBin.remove()
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := testbed.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
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
	b := &Broker{t: t, addr: freeAddr(t)}
	args := []string{"serve", "--listen", b.addr, "--data-dir", dataDir}
	if opts.Config != nil {
		args = append(args, "--config", writeProperties(t, work, opts.Config))
	}
	b.proc = &testbed.Proc{Bin: bin, Args: append(args, opts.ExtraArgs...), LogPath: filepath.Join(work, "broker.stderr")}
	t.Cleanup(b.cleanup)
	b.start()
	return b
}

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return b.addr }

// Pid is the pid of the current process, 0 if none runs.
func (b *Broker) Pid() int { return b.proc.Pid() }

// start launches one process and waits until it serves Metadata.
func (b *Broker) start() {
	b.t.Helper()
	if err := b.proc.Start(); err != nil {
		b.t.Fatal(err)
	}
	if err := b.waitReady(b.proc.Done()); err != nil {
		log := b.logTail()
		hint := ""
		if strings.Contains(log, "address already in use") && b.proc.Runs() > 1 {
			hint = " (a restarted broker must bind with SO_REUSEADDR, e.g. gnet.WithReuseAddr(true), while the old connections sit in TIME_WAIT)"
		}
		b.t.Fatalf("broker run %d on %s not ready: %v%s\n%s", b.proc.Runs(), b.addr, err, hint, log)
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
			return fmt.Errorf("process exited during start: %v", b.proc.ExitErr())
		default:
		}
		if last = b.probe(); last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not serving after %v: %v", startTimeout, last)
}

// probe asks for Metadata with a short-lived client.
func (b *Broker) probe() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ids, err := testbed.MetadataBrokers(ctx, b.addr)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return errors.New("metadata lists no brokers")
	}
	return nil
}

// Kill crashes the broker with SIGKILL and waits until it is reaped.
func (b *Broker) Kill() {
	b.t.Helper()
	if err := b.proc.Kill(); err != nil {
		b.t.Fatalf("%v\n%s", err, b.logTail())
	}
}

// Stop sends SIGTERM and fails the test unless the broker exits with
// status 0 within testbed.StopTimeout.
func (b *Broker) Stop() {
	b.t.Helper()
	if err := b.proc.Terminate(); err != nil {
		b.t.Fatalf("graceful shutdown: want exit status 0: %v\n%s", err, b.logTail())
	}
}

// Restart starts the broker again on the same port and data directory. The
// previous process must have been stopped with Kill or Stop.
func (b *Broker) Restart() {
	b.t.Helper()
	if b.proc.Pid() != 0 {
		b.t.Fatalf("Restart: the previous process still runs; Kill or Stop it first")
	}
	b.start()
}

// cleanup kills a process the test left running, then prints the broker's
// stderr if the test failed.
func (b *Broker) cleanup() {
	if err := b.proc.Reap(); err != nil {
		b.t.Errorf("broker %s: %v", b.addr, err)
	}
	if b.t.Failed() && !b.logShown {
		b.t.Logf("broker %s stderr (%s):\n%s", b.addr, b.proc.LogPath, b.logTail())
	}
}

// logTail returns the last testbed.LogTailBytes of the broker's stderr.
func (b *Broker) logTail() string {
	b.logShown = true
	return b.proc.LogTail()
}
