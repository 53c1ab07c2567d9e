package benchmarks

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
	"syscall"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The systems under test.
const (
	Chronik = "chronik"
	Kfake   = "kfake"
	// ChronikRF3 is a 3-broker Chronik cluster started by the testbed
	// (free loopback ports, fresh directories); its topics get RF=3 and
	// min.insync.replicas=2, and its producers and consumers are seeded
	// at broker 1. Its CPU figures are the three brokers' together.
	ChronikRF3 = "chronik-rf3"
)

// clusterNodes is the brokers of ChronikRF3.
const clusterNodes = 3

// Peers says how to start each system. Every run gets a fresh process with
// a fresh data directory on a free 127.0.0.1 port.
type Peers struct {
	// ChronikBin is the chronik binary (bin/chronik).
	ChronikBin string
	// ChronikConfig holds extra broker keys written to its --config file
	// (e.g. the debug.* test hooks of a chronik-debug binary).
	ChronikConfig map[string]string
	// KfakeCmd runs ServeKfake: e.g. {"bin/chronik-bench", "kfake-serve"}.
	KfakeCmd []string
	// WorkDir holds data directories and logs; each run's is removed after it.
	WorkDir string
	// AdminListen gives Chronik an admin listener (for profiling).
	AdminListen bool
}

// Proc is one running broker process.
type Proc struct {
	System    string
	Addr      string // Kafka listener
	AdminAddr string // Chronik's admin listener, "" when off
	Pid       int
	Durable   string // what durability the peer was started with, for the report
	// RF is the replication factor the system's topics get (1, or 3 for
	// ChronikRF3).
	RF      int16
	cluster *testbed.Cluster // ChronikRF3
	cmd     *exec.Cmd
	dir     string
	logPath string
	done    chan struct{}
}

// Start starts system for scenario sc and waits until it answers Metadata.
func (p Peers) Start(ctx context.Context, system string, sc Scenario) (*Proc, error) {
	dir, err := os.MkdirTemp(p.WorkDir, system+"-")
	if err != nil {
		return nil, fmt.Errorf("make run dir: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	pr := &Proc{System: system, Addr: addr, RF: 1, dir: dir, logPath: filepath.Join(dir, "stderr.log")}
	if system == ChronikRF3 {
		if err := p.startCluster(pr, sc); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		return pr, nil
	}
	var args []string
	switch system {
	case Chronik:
		args, err = p.chronikArgs(pr, sc)
	case Kfake:
		args, err = p.kfakeArgs(pr, sc)
	default:
		err = fmt.Errorf("unknown system %q", system)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := pr.launch(args); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := pr.waitReady(ctx); err != nil {
		tail := pr.logTail()
		pr.Stop()
		return nil, fmt.Errorf("%s not ready on %s: %w\n%s", system, addr, err, tail)
	}
	return pr, nil
}

// chronikProperties are the broker properties every Chronik peer gets.
func (p Peers) chronikProperties(sc Scenario) map[string]string {
	kv := map[string]string{"num.partitions": fmt.Sprint(max(sc.Partitions, 1))}
	for k, v := range p.ChronikConfig {
		kv[k] = v
	}
	return kv
}

// startCluster starts ChronikRF3 in pr's directory: the testbed waits
// until every broker lists the others.
func (p Peers) startCluster(pr *Proc, sc Scenario) error {
	if p.ChronikBin == "" {
		return errors.New("no chronik binary (run make build)")
	}
	c, err := testbed.Start(testbed.Config{Bin: p.ChronikBin, Nodes: clusterNodes, Dir: filepath.Join(pr.dir, "cluster"),
		Properties: p.chronikProperties(sc), ExtraArgs: []string{"--log-level", "warn"}})
	if err != nil {
		return fmt.Errorf("start %s: %w", ChronikRF3, err)
	}
	pr.cluster, pr.RF, pr.Addr, pr.Pid = c, clusterNodes, c.Node(1).KafkaAddr, c.Node(1).Proc.Pid()
	pr.Durable = "3 brokers, RF=3, min.insync.replicas=2: acks=-1 answered once 2 replicas have it fdatasync'd"
	return nil
}

func (p Peers) chronikArgs(pr *Proc, sc Scenario) ([]string, error) {
	if p.ChronikBin == "" {
		return nil, errors.New("no chronik binary (run make build)")
	}
	kv := p.chronikProperties(sc)
	cfgPath := filepath.Join(pr.dir, "broker.properties")
	if err := os.WriteFile(cfgPath, []byte(properties(kv)), 0o644); err != nil {
		return nil, fmt.Errorf("write chronik config: %w", err)
	}
	args := []string{p.ChronikBin, "serve", "--listen", pr.Addr, "--data-dir", filepath.Join(pr.dir, "data"),
		"--config", cfgPath, "--log-level", "warn"}
	if p.AdminListen {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		pr.AdminAddr = a
		args = append(args, "--admin-listen", a)
	}
	pr.Durable = "acks=-1: fdatasync (group commit) before the answer; acks=1: pwrite"
	return args, nil
}

func (p Peers) kfakeArgs(pr *Proc, sc Scenario) ([]string, error) {
	if len(p.KfakeCmd) == 0 {
		return nil, errors.New("no kfake command")
	}
	args := append(append([]string{}, p.KfakeCmd...), "--listen", pr.Addr,
		"--num-partitions", fmt.Sprint(max(sc.Partitions, 1)))
	pr.Durable = "in memory"
	if sc.Durable {
		args = append(args, "--data-dir", filepath.Join(pr.dir, "data"), "--sync")
		pr.Durable = "data dir, SyncWrites: fsync of segment and index per batch"
	}
	return args, nil
}

func properties(kv map[string]string) string {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, kv[k])
	}
	return b.String()
}

func (pr *Proc) launch(args []string) error {
	logf, err := os.Create(pr.logPath)
	if err != nil {
		return fmt.Errorf("create %s log: %w", pr.System, err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", pr.System, err)
	}
	pr.cmd, pr.Pid, pr.done = cmd, cmd.Process.Pid, make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(pr.done)
	}()
	return nil
}

// waitReady polls Metadata until it answers, the process exits or 30 s pass.
func (pr *Proc) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		select {
		case <-pr.done:
			return errors.New("process exited during start")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(30 * time.Millisecond):
		}
		if probe(ctx, pr.Addr) == nil {
			return nil
		}
	}
}

func probe(ctx context.Context, addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	return err
}

// pids are the system's broker processes.
func (pr *Proc) pids() []int {
	if pr.cluster == nil {
		return []int{pr.Pid}
	}
	var out []int
	for _, n := range pr.cluster.Nodes {
		out = append(out, n.Proc.Pid())
	}
	return out
}

// Stats reads the process's CPU time and peak RSS; of a cluster, the CPU
// time of every broker together and the largest peak RSS.
func (pr *Proc) Stats() (ProcStats, error) {
	var st ProcStats
	for _, pid := range pr.pids() {
		s, err := ReadProcStats(pid)
		if err != nil {
			return st, err
		}
		st.CPUSeconds += s.CPUSeconds
		st.PeakRSSBytes = max(st.PeakRSSBytes, s.PeakRSSBytes)
	}
	return st, nil
}

// CPUSeconds reads the process's CPU clock (a cluster's: every broker's,
// summed).
func (pr *Proc) CPUSeconds() (float64, error) {
	var sum time.Duration
	for _, pid := range pr.pids() {
		d, err := ReadProcCPU(pid)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum.Seconds(), nil
}

// Stop sends SIGTERM, waits up to 10 s, then SIGKILLs; it removes the run's
// directory. Safe to call twice.
func (pr *Proc) Stop() {
	if pr.cluster != nil {
		pr.cluster.Close()
		pr.cluster = nil
	}
	if pr.cmd != nil {
		pr.terminate(10 * time.Second)
		pr.cmd = nil
	}
	os.RemoveAll(pr.dir)
}

// terminate sends SIGTERM and waits for the exit, up to wait, then SIGKILLs.
func (pr *Proc) terminate(wait time.Duration) {
	pr.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-pr.done:
	case <-time.After(wait):
		pr.cmd.Process.Kill()
		<-pr.done
	}
}

// logTail returns the end of the process's output, for error messages.
func (pr *Proc) logTail() string {
	if pr.cluster != nil {
		return pr.cluster.Logs()
	}
	b, _ := os.ReadFile(pr.logPath)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
