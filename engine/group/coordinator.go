package group

import (
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Coordinator runs the classic consumer groups of the partitions of
// __consumer_offsets this broker leads (standalone: all of them). A group
// lives on partition Partition(id, nparts): its offsets and metadata
// are written there, and its coordinator is that partition's leader.
// Leadership comes from the Host: see doc.go for when partitions are
// loaded and unloaded. Until replication exists the local log is all a new
// leader has: groups whose partition moved to a broker that never led it
// start empty there.
//
// Methods are safe for concurrent use; the engine's request workers call
// them. A method that takes a respond callback returns nil when it parks
// the request and calls respond later from another goroutine.
type Coordinator struct {
	cfg  Config
	host Host
	log  *slog.Logger
	now  func() time.Time

	mu       sync.Mutex
	groups   map[string]*group
	attached bool          // __consumer_offsets exists here and topicID is it
	topicID  [16]byte      // the topic the logs belong to
	logs     []*offsetsLog // by partition; nil: not led here (its groups not loaded)
	nparts   int32         // partitions groups are placed over
	closed   bool

	bgMu     sync.Mutex // leaf lock: bgClosed and bg.Add
	bgClosed bool
	bg       sync.WaitGroup // compactions in flight
}

// New returns a coordinator with no groups; Load attaches the internal
// topic if the broker has it.
func New(cfg Config, host Host) *Coordinator {
	c := &Coordinator{cfg: cfg, host: host, log: cfg.Logger, now: cfg.Now, groups: make(map[string]*group)}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Close stops every timer, answers parked JoinGroup and SyncGroup
// requests with NOT_COORDINATOR, as Kafka does when it unloads a group,
// and waits for compactions in flight. Later requests get NOT_COORDINATOR.
func (c *Coordinator) Close() {
	c.mu.Lock()
	c.closed = true
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		g.unload()
		g.mu.Unlock()
	}
	c.bgMu.Lock()
	c.bgClosed = true
	c.bgMu.Unlock()
	c.bg.Wait()
}

// PartitionFor returns the internal partition group id lives on, creating
// the internal topic on first use.
func (c *Coordinator) PartitionFor(id string) (int32, *kerr.Error) {
	if err := c.EnsureTopic(); err != nil {
		return -1, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.attached { // deleted since
		return -1, kerr.CoordinatorNotAvailable
	}
	return Partition(id, c.nparts), nil
}

// logForLocked returns the internal log partition that owns group id, or
// NOT_COORDINATOR when this broker does not lead it (asked of the Host
// now, so a request racing a leadership move is refused rather than
// served from a stale log). Caller holds c.mu.
func (c *Coordinator) logForLocked(id string) (*offsetsLog, *kerr.Error) {
	if c.closed || !c.attached {
		return nil, kerr.NotCoordinator
	}
	i := Partition(id, c.nparts)
	if err := c.syncPartitionLocked(i, true); err != nil {
		c.log.Error("load consumer groups", "partition", i, "err", err)
		return nil, kerr.CoordinatorNotAvailable
	}
	if c.logs[i] == nil {
		return nil, kerr.NotCoordinator
	}
	return c.logs[i], nil
}

// group returns the live group named id; with create it makes an Empty one
// when there is none. A nil group with a nil error means "no such group".
func (c *Coordinator) group(id string, create bool) (*group, *kerr.Error) {
	if err := c.EnsureTopic(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	o, kerrv := c.logForLocked(id)
	if kerrv != nil {
		return nil, kerrv
	}
	g := c.groups[id]
	if g == nil && create {
		g = newGroup(c, id, o)
		c.groups[id] = g
	}
	return g, nil
}

// loadedGroupLocked returns the loaded group named id, or nil, with the
// error for a group this broker does not coordinate. Caller holds c.mu.
func (c *Coordinator) loadedGroupLocked(id string) (*group, *kerr.Error) {
	if _, kerrv := c.logForLocked(id); kerrv != nil {
		return nil, kerrv
	}
	return c.groups[id], nil
}

// forgetLocked removes g from the map if it is still the group of its id.
// Caller holds c.mu.
func (c *Coordinator) forgetLocked(g *group) {
	if c.groups[g.id] == g {
		delete(c.groups, g.id)
	}
}

// snapshotGroups returns the live groups.
func (c *Coordinator) snapshotGroups() []*group {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Collect(maps.Values(c.groups))
}

// validGroupID follows Kafka: JoinGroup, SyncGroup, Heartbeat and LeaveGroup
// need a non-empty id; the offset APIs, DescribeGroups and DeleteGroups
// accept "" for compatibility.
func validGroupID(id string, allowEmpty bool) bool { return allowEmpty || id != "" }

// errCode is a shorthand for a kerr error's code; nil is 0.
func errCode(err *kerr.Error) int16 {
	if err == nil {
		return 0
	}
	return err.Code
}

// strp returns a pointer to s, for nullable response strings.
func strp(s string) *string { return &s }

func msDuration(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }
