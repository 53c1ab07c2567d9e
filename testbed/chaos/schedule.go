package chaos

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Kind is a fault kind. A fault names a role (the leader of a partition,
// one of its followers, the controller), resolved to a broker when the
// fault starts: the schedule is the same for a seed, the brokers it hits
// follow the cluster's state at that moment.
type Kind string

// The fault kinds.
const (
	KillLeader       Kind = "kill-leader"        // kill -9 a partition's leader, restart after Hold
	KillFollower     Kind = "kill-follower"      // kill -9 one of its followers, restart after Hold
	KillController   Kind = "kill-controller"    // kill -9 the controller's broker, restart after Hold
	PauseLeader      Kind = "pause-leader"       // SIGSTOP a leader for Hold, then SIGCONT: a zombie wakes
	PauseController  Kind = "pause-controller"   // SIGSTOP the controller's broker for Hold, then SIGCONT
	IsolateLeader    Kind = "isolate-leader"     // cut a leader from its followers (both ways) for Hold
	IsolateMinority  Kind = "isolate-minority"   // cut a minority of brokers from the rest and from clients
	IsolateCtrl      Kind = "isolate-controller" // cut the controller's broker from every other broker
	OneWayLeader     Kind = "one-way-leader"     // a leader's bytes to its followers lost, theirs still arrive
	ClientCut        Kind = "client-cut"         // clients cannot reach a leader; brokers can
	SlowLink         Kind = "slow-link"          // latency on a leader's links to its followers
	DoubleKillLeader Kind = "double-kill"        // kill a leader, then the new leader before the first returns
	KillAndIsolate   Kind = "kill-and-isolate"   // kill a follower, then isolate the leader before it returns
	// A follower cut from its leader (both ways) until the leader drops it
	// from the ISR, then the leader killed while the cut holds: the only
	// live replica besides the ISR's is one that must not be elected.
	LagThenKill Kind = "lag-then-kill"
	// The disk faults need bin/chronik-debug (POST /debug/disk).
	FsyncFail Kind = "fsync-fail" // fdatasync fails (EIO) for Hold on a leader or follower (Pick); healed by restarting it (kill -9)
	SlowDisk  Kind = "slow-disk"  // every fdatasync of a leader or follower (Pick) takes Delay longer for Hold
)

// DiskKinds are the kinds that switch a broker's disk fault: the cluster
// must run bin/chronik-debug.
var DiskKinds = []Kind{FsyncFail, SlowDisk}

// Kinds lists every kind a generated schedule draws from.
var Kinds = []Kind{KillLeader, KillFollower, KillController, PauseLeader, PauseController, IsolateLeader, IsolateMinority,
	IsolateCtrl, OneWayLeader, ClientCut, SlowLink, DoubleKillLeader, KillAndIsolate, LagThenKill, FsyncFail, SlowDisk}

// Fault is one entry of a schedule.
type Fault struct {
	N         int           `json:"n"`         // 1-based position
	Kind      Kind          `json:"kind"`      //
	Partition int32         `json:"partition"` // whose leader / follower is meant
	Pick      int           `json:"pick"`      // which follower / which minority member, modulo the candidates
	Gap       time.Duration `json:"gap"`       // healthy time before it starts
	Hold      time.Duration `json:"hold"`      // how long the fault lasts
	Second    time.Duration `json:"second"`    // double faults: when the second starts, after the first
	Delay     time.Duration `json:"delay"`     // slow-link: the latency added; slow-disk: added to each fdatasync
}

func (f Fault) String() string {
	s := fmt.Sprintf("#%d %s p%d pick %d after %v hold %v", f.N, f.Kind, f.Partition, f.Pick, f.Gap, f.Hold)
	if f.Second > 0 {
		s += fmt.Sprintf(" second at +%v", f.Second)
	}
	if f.Delay > 0 {
		s += fmt.Sprintf(" delay %v", f.Delay)
	}
	return s
}

// ScheduleConfig shapes a generated schedule.
type ScheduleConfig struct {
	Faults     int
	Partitions int
	Kinds      []Kind        // default Kinds
	MinGap     time.Duration // default 1s
	MaxGap     time.Duration // default 3s
	MinHold    time.Duration // default 1s
	MaxHold    time.Duration // default 4s
}

// NewSchedule draws a schedule from seed: the same seed and config give
// the same faults. Kinds are taken in turn from a shuffled cycle of all
// kinds, so a short schedule still mixes them.
func NewSchedule(seed uint64, cfg ScheduleConfig) []Fault {
	if len(cfg.Kinds) == 0 {
		cfg.Kinds = Kinds
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.MinGap, time.Second)
	def(&cfg.MaxGap, 3*time.Second)
	def(&cfg.MinHold, time.Second)
	def(&cfg.MaxHold, 4*time.Second)
	cfg.Partitions = max(cfg.Partitions, 1)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	between := func(lo, hi time.Duration) time.Duration {
		if hi <= lo {
			return lo
		}
		return lo + time.Duration(rng.Int64N(int64(hi-lo)))
	}
	var out []Fault
	var cycle []Kind
	for i := range cfg.Faults {
		if len(cycle) == 0 {
			cycle = append([]Kind(nil), cfg.Kinds...)
			rng.Shuffle(len(cycle), func(a, b int) { cycle[a], cycle[b] = cycle[b], cycle[a] })
		}
		f := Fault{N: i + 1, Kind: cycle[0], Partition: int32(rng.IntN(cfg.Partitions)), Pick: rng.IntN(1 << 16),
			Gap: between(cfg.MinGap, cfg.MaxGap), Hold: between(cfg.MinHold, cfg.MaxHold)}
		cycle = cycle[1:]
		switch f.Kind {
		case DoubleKillLeader, KillAndIsolate:
			f.Second = between(f.Hold/4, f.Hold*3/4) // before the first returns
		case SlowLink:
			f.Delay = between(20*time.Millisecond, 300*time.Millisecond)
		case SlowDisk:
			f.Delay = between(20*time.Millisecond, 500*time.Millisecond)
		}
		out = append(out, f)
	}
	return out
}

// FormatSchedule prints a schedule, one fault a line.
func FormatSchedule(s []Fault) string {
	var b strings.Builder
	for _, f := range s {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}
