package testbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronik/chronik/raftmeta"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config describes a local cluster to start.
type Config struct {
	Bin   string // the chronik binary
	Nodes int    // 1, 3 or 5
	Dir   string // work directory: cluster.conf, node-<id>/{data,broker.log}

	// KafkaPorts, when set, fixes the Kafka port of each node (make cluster
	// uses 9092-9094); otherwise free 127.0.0.1 ports are picked, as they
	// are for replication and Raft.
	KafkaPorts []int
	Racks      []string          // optional, one per node
	Properties map[string]string // broker properties, the same for every node
	ExtraArgs  []string          // appended to every serve command line
	// Admin gives every node an admin listener (--admin-listen) on a free
	// loopback port: /metrics and /debug/pprof (Node.AdminAddr).
	Admin bool

	// Proxy puts a fault-injecting proxy (Cluster.Net) in front of every
	// node's replication and Raft listener: the cluster config names the
	// proxies, the nodes bind elsewhere. ProxyClients adds one in front of
	// every Kafka listener (clients and brokers' metadata use the
	// proxies). A proxied cluster needs a fresh Dir.
	Proxy        bool
	ProxyClients bool

	ReadyTimeout time.Duration // default 60s
}

// Node is one broker of the cluster.
type Node struct {
	raftmeta.Member
	DataDir   string
	AdminAddr string // with Config.Admin: the node's admin listener
	Proc      *Proc
}

// Cluster is a set of chronik processes sharing one cluster config. Its
// methods are safe for concurrent use.
type Cluster struct {
	cfg        Config
	ConfigPath string
	Nodes      []*Node // index i is broker id i+1
	// Net holds the links between the nodes when Config.Proxy is set: cut,
	// heal, delay (nil otherwise).
	Net *Net
	// nodes is Nodes once New filled it, for the proxies' goroutines.
	nodes atomic.Pointer[[]*Node]
}

// Start writes the cluster config, starts every broker and waits until
// each answers Metadata listing all of them. On error everything started is
// reaped.
func Start(cfg Config) (*Cluster, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	for i := range c.Nodes {
		if err := c.Nodes[i].Proc.Start(); err != nil {
			c.Close()
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ReadyTimeout)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// New writes the cluster config and prepares the nodes without starting
// them.
func New(cfg Config) (*Cluster, error) {
	if cfg.Nodes < 1 {
		return nil, errors.New("testbed: need at least one node")
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	if len(cfg.KafkaPorts) != 0 && len(cfg.KafkaPorts) != cfg.Nodes {
		return nil, fmt.Errorf("testbed: %d Kafka ports for %d nodes", len(cfg.KafkaPorts), cfg.Nodes)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	c := &Cluster{cfg: cfg, ConfigPath: filepath.Join(cfg.Dir, "cluster.conf")}
	members, err := existingMembers(c.ConfigPath, cfg.Nodes)
	addrs := &addrPicker{free: FreeAddr, used: map[string]bool{}}
	var listenArgs map[int32][]string
	switch {
	case err == nil && cfg.Proxy && members != nil:
		err = fmt.Errorf("testbed: %s exists; a proxied cluster needs a fresh directory", c.ConfigPath)
	case err == nil && cfg.Proxy:
		c.Net = NewNet(c.sourceOf)
		if members, listenArgs, err = proxiedMembers(cfg, c.Net, addrs); err != nil {
			c.Net.Close()
		}
	case err == nil && members == nil:
		members, err = newMembers(cfg, addrs)
	}
	if err != nil {
		return nil, err
	}
	for _, m := range members {
		addrs.used[m.KafkaAddr], addrs.used[m.ReplicationAddr], addrs.used[m.RaftAddr] = true, true, true
	}
	if err := os.WriteFile(c.ConfigPath, []byte(raftmeta.FormatClusterConfig(members)), 0o644); err != nil {
		c.closeNet()
		return nil, fmt.Errorf("testbed: write cluster config: %w", err)
	}
	props, err := writeProperties(cfg)
	if err != nil {
		c.closeNet()
		return nil, err
	}
	for _, m := range members {
		dir := filepath.Join(cfg.Dir, "node-"+strconv.Itoa(int(m.ID)))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			c.closeNet()
			return nil, fmt.Errorf("testbed: %w", err)
		}
		n := &Node{Member: m, DataDir: filepath.Join(dir, "data")}
		args := []string{"serve", "--cluster", c.ConfigPath, "--node-id", strconv.Itoa(int(m.ID)), "--data-dir", n.DataDir}
		if props != "" {
			args = append(args, "--config", props)
		}
		args = append(args, listenArgs[m.ID]...)
		if cfg.Admin {
			if n.AdminAddr, err = addrs.pick(); err != nil {
				c.closeNet()
				return nil, err
			}
			args = append(args, "--admin-listen", n.AdminAddr)
		}
		n.Proc = &Proc{Bin: cfg.Bin, Args: append(args, cfg.ExtraArgs...), LogPath: filepath.Join(dir, "broker.log")}
		c.Nodes = append(c.Nodes, n)
	}
	c.nodes.Store(&c.Nodes)
	return c, nil
}

// existingMembers reads the cluster config a previous run left in the
// directory (its nodes' Raft logs are bound to those addresses); nil when
// there is none.
func existingMembers(path string, n int) ([]raftmeta.Member, error) {
	body, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	ms, err := raftmeta.ParseClusterConfig(string(body))
	if err != nil {
		return nil, fmt.Errorf("testbed: %s: %w", path, err)
	}
	if len(ms) != n {
		return nil, fmt.Errorf("testbed: %s lists %d nodes, not %d; use another directory", path, len(ms), n)
	}
	return ms, nil
}

func newMembers(cfg Config, addrs *addrPicker) ([]raftmeta.Member, error) {
	var ms []raftmeta.Member
	for _, port := range cfg.KafkaPorts {
		addrs.used[net.JoinHostPort("127.0.0.1", strconv.Itoa(port))] = true
	}
	for i := range cfg.Nodes {
		m := raftmeta.Member{ID: int32(i + 1)}
		if len(cfg.KafkaPorts) > 0 {
			m.KafkaAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.KafkaPorts[i]))
		}
		for _, a := range []*string{&m.KafkaAddr, &m.ReplicationAddr, &m.RaftAddr} {
			if *a != "" {
				continue
			}
			addr, err := addrs.pick()
			if err != nil {
				return nil, err
			}
			*a = addr
		}
		if i < len(cfg.Racks) {
			m.Rack = cfg.Racks[i]
		}
		ms = append(ms, m)
	}
	return ms, nil
}

func writeProperties(cfg Config) (string, error) {
	if len(cfg.Properties) == 0 {
		return "", nil
	}
	keys := make([]string, 0, len(cfg.Properties))
	for k := range cfg.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# written by testbed\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, cfg.Properties[k])
	}
	path := filepath.Join(cfg.Dir, "broker.properties")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return "", fmt.Errorf("testbed: write properties: %w", err)
	}
	return path, nil
}

// addrPicker hands out free addresses, none twice: a port the kernel just
// gave (listen, close) may come again at once, and a cluster config with
// one address twice is refused by every broker.
type addrPicker struct {
	free func() (string, error)
	used map[string]bool
}

// addrPickTries bounds how many free ports pick asks for.
const addrPickTries = 100

func (p *addrPicker) pick() (string, error) {
	for range addrPickTries {
		a, err := p.free()
		if err != nil {
			return "", err
		}
		if !p.used[a] {
			p.used[a] = true
			return a, nil
		}
	}
	return "", fmt.Errorf("testbed: no unused free port in %d tries", addrPickTries)
}

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Node returns the node with broker id id.
func (c *Cluster) Node(id int32) *Node { return c.Nodes[id-1] }

// Addrs returns the Kafka addresses of all nodes.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.KafkaAddr)
	}
	return out
}

// running returns the nodes whose process is live.
func (c *Cluster) running() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.Proc.Pid() != 0 {
			out = append(out, n)
		}
	}
	return out
}

// WaitReady waits until every running node answers Metadata listing every
// running node.
func (c *Cluster) WaitReady(ctx context.Context) error {
	var wg sync.WaitGroup
	run := c.running()
	errs := make([]error, len(run))
	for i, n := range run {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.waitNode(ctx, n, run)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitNode polls n until its Metadata lists every node of want.
func (c *Cluster) waitNode(ctx context.Context, n *Node, want []*Node) error {
	var last error
	for {
		select {
		case <-n.Proc.Done():
			return fmt.Errorf("node %d exited during start: %v\n%s", n.ID, n.Proc.ExitErr(), n.Proc.LogTail())
		default:
		}
		ids, err := MetadataBrokers(ctx, n.KafkaAddr)
		if err == nil {
			last = fmt.Errorf("lists brokers %v", ids)
			if containsAll(ids, want) {
				return nil
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %d (%s) not ready: %v (last: %v)\n%s", n.ID, n.KafkaAddr, ctx.Err(), last, n.Proc.LogTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func containsAll(ids []int32, want []*Node) bool {
	for _, n := range want {
		if !slices.Contains(ids, n.ID) {
			return false
		}
	}
	return true
}

// MetadataBrokers asks addr for Metadata (no topics) and returns the broker
// ids it lists.
func MetadataBrokers(ctx context.Context, addr string) ([]int32, error) {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	resp, err := req.RequestWith(rctx, cl)
	if err != nil {
		return nil, err
	}
	var ids []int32
	for _, b := range resp.Brokers {
		ids = append(ids, b.NodeID)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// Kill crashes node id with SIGKILL.
func (c *Cluster) Kill(id int32) error { return c.Node(id).Proc.Kill() }

// Pause freezes node id with SIGSTOP.
func (c *Cluster) Pause(id int32) error { return c.Node(id).Proc.Pause() }

// Continue resumes a paused node with SIGCONT.
func (c *Cluster) Continue(id int32) error { return c.Node(id).Proc.Continue() }

// Stop shuts node id down gracefully (SIGTERM) and checks its exit status.
func (c *Cluster) Stop(id int32) error { return c.Node(id).Proc.Terminate() }

// Restart starts a stopped or killed node again on the same addresses and
// data, and waits until it lists every running node.
func (c *Cluster) Restart(ctx context.Context, id int32) error {
	n := c.Node(id)
	if err := n.Proc.Start(); err != nil {
		return err
	}
	return c.waitNode(ctx, n, c.running())
}

// Close kills every live process by pid and waits for it, then stops the
// proxies.
func (c *Cluster) Close() error {
	var errs []error
	for _, n := range c.Nodes {
		if err := n.Proc.Reap(); err != nil {
			errs = append(errs, fmt.Errorf("node %d: %w", n.ID, err))
		}
	}
	errs = append(errs, c.closeNet())
	return errors.Join(errs...)
}

func (c *Cluster) closeNet() error {
	if c.Net == nil {
		return nil
	}
	return c.Net.Close()
}

// Logs returns the tail of every node's log, for a failure report.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, n := range c.Nodes {
		fmt.Fprintf(&b, "----- node %d (%s) %s\n%s\n", n.ID, n.KafkaAddr, n.Proc.LogPath, n.Proc.LogTail())
	}
	return b.String()
}

// Metrics returns node id's /metrics text (Config.Admin must be set).
func (c *Cluster) Metrics(ctx context.Context, id int32) (string, error) {
	n := c.Node(id)
	if n.AdminAddr == "" {
		return "", errors.New("testbed: the cluster was started without admin listeners")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.AdminAddr+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// SetDiskFault switches node id's disk fault on the live broker (POST
// /debug/disk on its admin listener): fault is off, fsync, write or slow
// (delay added to each sync). The cluster must run bin/chronik-debug with
// Config.Admin set.
func (c *Cluster) SetDiskFault(ctx context.Context, id int32, fault string, delay time.Duration) error {
	n := c.Node(id)
	if n.AdminAddr == "" {
		return errors.New("testbed: the cluster was started without admin listeners")
	}
	u := fmt.Sprintf("http://%s/debug/disk?fault=%s&delay_ms=%d", n.AdminAddr, fault, delay.Milliseconds())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("testbed: disk fault %s on broker %d: %w", fault, id, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("testbed: disk fault %s on broker %d: %s: %s (a chronik-debug binary?)", fault, id, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
