package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chronik/chronik/testbed"
	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Topic is the topic a run writes.
const Topic = "chaos"

// Config describes a chaos run.
type Config struct {
	Bin        string // the chronik binary
	Dir        string // work directory of the cluster (fresh)
	Brokers    int    // default 3
	Partitions int    // default 12
	RF         int    // default 3
	MinInsync  int    // default 2
	Rate       int    // records per second over all producers; default 300
	Producers  int    // default Brokers (each bootstrapped through another broker)
	Readers    int    // assign-mode readers; default 2
	Group      bool   // also one consumer group member (autocommit)
	Faults     int
	Seed       uint64
	Duration   time.Duration // bound on the fault phase (0: until the schedule is done)
	Schedule   ScheduleConfig
	// Properties are broker properties on top of the run's defaults
	// (replica.lag.time.max.ms 3000).
	Properties map[string]string
	Log        io.Writer // progress lines; nil: none
	// RecoverTimeout bounds each wait for the cluster to heal (all brokers
	// up, every partition's ISR full); default 60s.
	RecoverTimeout time.Duration
	// KeepGoing runs the rest of the schedule after the cluster failed to
	// heal (by default the run stops injecting and goes on to the checks).
	KeepGoing bool
}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Brokers, 3)
	def(&c.Partitions, 12)
	def(&c.RF, 3)
	def(&c.MinInsync, 2)
	def(&c.Rate, 300)
	def(&c.Producers, c.Brokers)
	def(&c.Readers, 2)
	if c.RecoverTimeout <= 0 {
		c.RecoverTimeout = 60 * time.Second
	}
	c.Schedule.Faults, c.Schedule.Partitions = c.Faults, c.Partitions
}

// Results is what a run found, written to results.json.
type Results struct {
	Seed       uint64         `json:"seed"`
	Brokers    int            `json:"brokers"`
	Partitions int            `json:"partitions"`
	RF         int            `json:"rf"`
	MinInsync  int            `json:"min_insync"`
	Rate       int            `json:"rate"`
	Start      time.Time      `json:"start"`
	End        time.Time      `json:"end"`
	Schedule   []Fault        `json:"schedule"`
	Events     []FaultEvent   `json:"events"`
	KindCounts map[string]int `json:"kind_counts"`
	Gaps       []FailoverGap  `json:"failover_gaps"`
	Check      *Result        `json:"check"`
	Timeline   []Bucket       `json:"timeline"`
	// ProduceErrors counts records whose produce failed (not
	// acknowledged; they may or may not be stored), by error.
	ProduceErrors map[string]int `json:"produce_errors"`
	Warnings      []string       `json:"warnings"`
	// Unhealed counts the recoveries (after a fault, at the end) that did
	// not get every broker listed and every ISR full within
	// RecoverTimeout: a liveness failure, whatever the data checks say.
	Unhealed int `json:"unhealed"`
	// FinalReadShort: a final read did not reach the end offsets in time
	// (the cluster did not serve them); lost and vanished then count what
	// it could not read, not only what the cluster lost.
	FinalReadShort bool   `json:"final_read_short"`
	Summary        string `json:"summary"`
}

// checkDiskFaults makes sure the brokers can take the schedule's disk
// faults (they run bin/chronik-debug), so that a run with the shipped
// binary fails at once instead of skipping those faults.
func checkDiskFaults(ctx context.Context, c *testbed.Cluster, schedule []Fault) error {
	for _, f := range schedule {
		if slices.Contains(DiskKinds, f.Kind) {
			if err := c.SetDiskFault(ctx, 1, "off", 0); err != nil {
				return fmt.Errorf("the schedule has disk faults (%s, ...), which need -bin bin/chronik-debug (make build-debug): %w", f.Kind, err)
			}
			return nil
		}
	}
	return nil
}

// Bucket is the acknowledged records of one timeline slot.
type Bucket struct {
	At    time.Duration `json:"at"` // since Start
	Acked int           `json:"acked"`
}

// FailoverGap is, for one fault, the longest time an affected partition
// acknowledged nothing across the fault.
type FailoverGap struct {
	N    int           `json:"n"`
	Kind string        `json:"kind"`
	Gap  time.Duration `json:"gap"`
}

// run is one chaos run's state.
type run struct {
	cfg   Config
	c     *testbed.Cluster
	adm   *kadm.Client
	admCl *kgo.Client
	start time.Time

	mu         sync.Mutex
	acks       []Ack
	reads      []Read
	events     []FaultEvent
	prodErrs   map[string]int
	warnings   []string
	unhealed   int               // recoveries that timed out
	finalShort bool              // a final read did not reach the end offsets
	readerPos  []map[int32]int64 // per reader: highest offset read per partition
}

// Run starts a proxied cluster, drives the workload through the schedule
// of faults, heals, reads everything back and checks it. The cluster is
// torn down before it returns.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	cfg.setDefaults()
	props := map[string]string{"replica.lag.time.max.ms": "3000"}
	for k, v := range cfg.Properties {
		props[k] = v
	}
	c, err := testbed.Start(testbed.Config{Bin: cfg.Bin, Nodes: cfg.Brokers, Dir: cfg.Dir, Proxy: true, ProxyClients: true,
		Properties: props, Admin: true, ReadyTimeout: 90 * time.Second})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	schedule := NewSchedule(cfg.Seed, cfg.Schedule)
	if err := checkDiskFaults(ctx, c, schedule); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, c: c, prodErrs: map[string]int{}}
	if r.admCl, err = kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.MetadataMinAge(100*time.Millisecond)); err != nil {
		return nil, err
	}
	defer r.admCl.Close()
	r.adm = kadm.NewClient(r.admCl)
	if err := r.createTopic(ctx); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, c.Logs())
	}
	r.logf("seed %d: %d faults on %d brokers, %d partitions RF %d min.insync %d, %d records/s\n%s",
		cfg.Seed, len(schedule), cfg.Brokers, cfg.Partitions, cfg.RF, cfg.MinInsync, cfg.Rate, FormatSchedule(schedule))

	r.start = time.Now()
	wctx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	var prodWG, readWG sync.WaitGroup
	producers := make([]*kgo.Client, cfg.Producers)
	for i := range producers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(rotate(c.Addrs(), i)...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.MetadataMinAge(100*time.Millisecond), kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(2000),
			kgo.ClientID("chaos-producer-"+strconv.Itoa(i)))
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		producers[i] = cl
		prodWG.Add(1)
		go func() { defer prodWG.Done(); r.produce(wctx, i, cl) }()
	}
	rctx, stopReaders := context.WithCancel(ctx)
	defer stopReaders()
	var consumers []*kgo.Client // closed while the brokers still run (a group member leaves its group)
	r.readerPos = make([]map[int32]int64, cfg.Readers)
	for i := range cfg.Readers {
		r.readerPos[i] = map[int32]int64{}
		offs := map[int32]kgo.Offset{}
		for p := range cfg.Partitions {
			offs[int32(p)] = kgo.NewOffset().AtStart()
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(rotate(c.Addrs(), i+1)...), kgo.MetadataMinAge(100*time.Millisecond),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{Topic: offs}), kgo.FetchMaxWait(500*time.Millisecond),
			kgo.ClientID("chaos-reader-"+strconv.Itoa(i)))
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		consumers = append(consumers, cl)
		readWG.Add(1)
		go func() { defer readWG.Done(); r.read(rctx, i, cl) }()
	}

	if cfg.Group {
		cl, err := kgo.NewClient(kgo.SeedBrokers(rotate(c.Addrs(), 2)...), kgo.MetadataMinAge(100*time.Millisecond),
			kgo.ConsumerGroup("chaos-group"), kgo.ConsumeTopics(Topic), kgo.FetchMaxWait(500*time.Millisecond),
			kgo.ClientID("chaos-group-member"))
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		consumers = append(consumers, cl)
		readWG.Add(1)
		go func() { defer readWG.Done(); r.read(rctx, -1, cl) }()
	}

	var deadline <-chan time.Time
	if cfg.Duration > 0 {
		deadline = time.After(cfg.Duration)
	}
	ran := 0
faults:
	for _, f := range schedule {
		select {
		case <-time.After(f.Gap):
		case <-deadline:
			r.warnf("duration %v reached after %d of %d faults", cfg.Duration, ran, len(schedule))
			break faults
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		r.inject(ctx, f)
		ran++
		r.recover(ctx, fmt.Sprintf("after fault %d", f.N))
		r.mu.Lock()
		unhealed := r.unhealed
		r.mu.Unlock()
		if unhealed > 0 && !cfg.KeepGoing {
			r.warnf("schedule stopped after fault %d of %d: the cluster did not heal", f.N, len(schedule))
			break
		}
	}
	if len(schedule) == 0 && deadline != nil {
		<-deadline
	}
	time.Sleep(2 * time.Second) // a last healthy stretch of load
	r.recover(ctx, "at the end")
	stopWork()
	prodWG.Wait()
	for i, cl := range producers {
		fctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		if err := cl.Flush(fctx); err != nil {
			r.warnf("producer %d flush: %v", i, err)
		}
		cancel()
	}
	end, err := r.endOffsets(ctx)
	if err != nil {
		r.warnf("%v; reading up to the acknowledged offsets instead", err)
	}
	r.waitReaders(ctx, end)
	stopReaders()
	readWG.Wait()
	for _, cl := range append(consumers, producers...) {
		cl.Close()
	}
	var finals []map[int32][]Read
	for i := range 2 {
		f, err := r.finalRead(ctx, i, end)
		if err != nil {
			return nil, err
		}
		finals = append(finals, f)
	}
	cmp := r.compareReplicas()
	res := r.results(schedule, finals)
	CheckReplicaLogs(res.Check, cmp, 10)
	res.Summary = res.Check.Summary(res.Events, r.start)
	return res, nil
}

// compareReplicas stops every broker (kill -9: what each has written is in
// its files) and compares the topic's partitions on broker 1 with every
// other broker's, on disk.
func (r *run) compareReplicas() []wal.PartitionComparison {
	for _, n := range r.c.Nodes {
		if n.Proc.Pid() != 0 {
			if err := n.Proc.Kill(); err != nil {
				r.warnf("stop node %d: %v", n.ID, err)
			}
		}
	}
	var out []wal.PartitionComparison
	a := r.c.Nodes[0]
	for _, b := range r.c.Nodes[1:] {
		rep, err := wal.CompareDirs(wal.OSFS(), a.DataDir, b.DataDir)
		if err != nil {
			r.warnf("compare replicas of nodes %d and %d: %v", a.ID, b.ID, err)
			continue
		}
		for _, pc := range rep.Partitions {
			if strings.HasPrefix(pc.Name, Topic+"-") {
				out = append(out, pc)
			}
		}
	}
	r.logf("compared %d partition replicas on disk", len(out))
	return out
}

func rotate(s []string, i int) []string {
	i %= len(s)
	return append(append([]string(nil), s[i:]...), s[:i]...)
}

func (r *run) logf(format string, args ...any) {
	if r.cfg.Log == nil {
		return
	}
	at := ""
	if !r.start.IsZero() {
		at = fmt.Sprintf("+%v ", time.Since(r.start).Round(100*time.Millisecond))
	}
	fmt.Fprintf(r.cfg.Log, "chaos: "+at+format+"\n", args...)
}

func (r *run) warnf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i] + " (...)" // errors of Restart carry the broker's log tail
	}
	r.mu.Lock()
	r.warnings = append(r.warnings, msg)
	r.mu.Unlock()
	r.logf("warning: %s", msg)
}

func (r *run) createTopic(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	mi := strconv.Itoa(r.cfg.MinInsync)
	for {
		resp, err := r.adm.CreateTopic(cctx, int32(r.cfg.Partitions), int16(r.cfg.RF), map[string]*string{"min.insync.replicas": &mi}, Topic)
		if err == nil && resp.Err == nil {
			break
		}
		if resp.Err != nil && errors.Is(resp.Err, kerr.TopicAlreadyExists) {
			break
		}
		select {
		case <-cctx.Done():
			return fmt.Errorf("create topic: %v %v", err, resp.Err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return r.waitHealthy(cctx)
}

// produce writes Rate/Producers records a second, producer i's sequence
// spread over every partition, until ctx ends.
func (r *run) produce(ctx context.Context, i int, cl *kgo.Client) {
	per := float64(r.cfg.Rate) / float64(r.cfg.Producers)
	tick := 10 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	var seq int64
	credit := 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		credit += per * tick.Seconds()
		for ; credit >= 1; credit-- {
			v := Value{Producer: i, Seq: seq}
			p := int32((seq + int64(i)) % int64(r.cfg.Partitions))
			seq++
			rec := &kgo.Record{Topic: Topic, Partition: p, Value: v.Encode()}
			cl.Produce(ctx, rec, func(rec *kgo.Record, err error) {
				r.mu.Lock()
				defer r.mu.Unlock()
				if err != nil {
					r.prodErrs[err.Error()]++
					return
				}
				r.acks = append(r.acks, Ack{Partition: rec.Partition, Offset: rec.Offset, Value: v, At: time.Now()})
			})
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// read records every record reader i polls; i < 0 is the group member
// (autocommit: its position is not tracked).
func (r *run) read(ctx context.Context, i int, cl *kgo.Client) {
	name := "group"
	if i >= 0 {
		name = "r" + strconv.Itoa(i)
	}
	var poll int64
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		var batch []Read
		now := time.Now()
		fs.EachRecord(func(rec *kgo.Record) {
			rd := toRead(name, poll, rec, now)
			rd.Group = i < 0
			batch = append(batch, rd)
		})
		if len(batch) == 0 {
			continue
		}
		poll++
		r.mu.Lock()
		r.reads = append(r.reads, batch...)
		for _, b := range batch {
			if i >= 0 && b.Offset > r.readerPos[i][b.Partition] {
				r.readerPos[i][b.Partition] = b.Offset
			}
		}
		r.mu.Unlock()
	}
}

func toRead(reader string, poll int64, rec *kgo.Record, at time.Time) Read {
	rd := Read{Reader: reader, Poll: poll, Partition: rec.Partition, Offset: rec.Offset, At: at}
	if v, ok := DecodeValue(rec.Value); ok {
		rd.Value = v
	} else {
		rd.Raw = fmt.Sprintf("%q", rec.Value)
	}
	return rd
}

// waitReaders waits until every reader has read up to end (the last
// offset of each partition), or a minute.
func (r *run) waitReaders(ctx context.Context, end map[int32]int64) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		behind := ""
		r.mu.Lock()
		for i, pos := range r.readerPos {
			for p, e := range end {
				if e > 0 && pos[p] < e-1 {
					behind = fmt.Sprintf("reader %d partition %d at %d of %d", i, p, pos[p], e)
				}
			}
		}
		r.mu.Unlock()
		if behind == "" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.warnf("readers did not reach the end offsets within a minute")
}

// endOffsets lists each partition's end offset (retrying while the
// cluster answers errors).
func (r *run) endOffsets(ctx context.Context) (map[int32]int64, error) {
	deadline := time.Now().Add(r.cfg.RecoverTimeout)
	for {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		lo, err := r.adm.ListEndOffsets(lctx, Topic)
		cancel()
		if err == nil && lo.Error() == nil {
			out := map[int32]int64{}
			lo.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
			if len(out) == r.cfg.Partitions {
				return out, nil
			}
		}
		if time.Now().After(deadline) {
			return r.ackedEnds(lo), fmt.Errorf("list end offsets: %v %v", err, lo.Error())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ackedEnds is the end offsets listed where a partition answered, else one
// past the highest acknowledged offset (a partition without a leader).
func (r *run) ackedEnds(lo kadm.ListedOffsets) map[int32]int64 {
	out := map[int32]int64{}
	r.mu.Lock()
	for _, a := range r.acks {
		out[a.Partition] = max(out[a.Partition], a.Offset+1)
	}
	r.mu.Unlock()
	lo.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			out[o.Partition] = o.Offset
		}
	})
	return out
}

// finalRead reads every partition from the start to end through a client
// bootstrapped at broker i.
func (r *run) finalRead(ctx context.Context, i int, end map[int32]int64) (map[int32][]Read, error) {
	offs := map[int32]kgo.Offset{}
	for p := range end {
		offs[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(rotate(r.c.Addrs(), i)...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{Topic: offs}),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	out := map[int32][]Read{}
	done := func() bool {
		for p, e := range end {
			if e > 0 && (len(out[p]) == 0 || out[p][len(out[p])-1].Offset < e-1) {
				return false
			}
		}
		return true
	}
	fctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	name := "final" + strconv.Itoa(i)
	for !done() {
		fs := cl.PollFetches(fctx)
		if fctx.Err() != nil {
			r.warnf("final read %d stopped short after 2 minutes", i)
			r.mu.Lock()
			r.finalShort = true
			r.mu.Unlock()
			break
		}
		now := time.Now()
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Offset < end[rec.Partition] {
				out[rec.Partition] = append(out[rec.Partition], toRead(name, 0, rec, now))
			}
		})
	}
	return out, nil
}

// metadata is the topic's partitions and the controller, as one broker
// sees them.
func (r *run) metadata(ctx context.Context) (kadm.Metadata, error) {
	mctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return r.adm.Metadata(mctx, Topic)
}

// waitHealthy waits until every broker runs and answers, and every
// partition has a leader and a full ISR.
func (r *run) waitHealthy(ctx context.Context) error {
	var last string
	for {
		md, err := r.metadata(ctx)
		switch {
		case err != nil:
			last = err.Error()
		case len(md.Brokers) < r.cfg.Brokers:
			last = fmt.Sprintf("brokers %v listed (controller %d)", md.Brokers.NodeIDs(), md.Controller)
		default:
			last = ""
			td := md.Topics[Topic]
			if len(td.Partitions) != r.cfg.Partitions {
				last = fmt.Sprintf("%d partitions listed", len(td.Partitions))
			}
			for _, p := range td.Partitions {
				if p.Err != nil || p.Leader < 0 || len(p.ISR) < r.cfg.RF {
					last = fmt.Sprintf("partition %d leader %d ISR %v err %v", p.Partition, p.Leader, p.ISR, p.Err)
					break
				}
			}
		}
		if last == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not healthy: %s", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// recover heals every link, resumes and restarts every broker, and waits
// until the cluster is healthy.
func (r *run) recover(ctx context.Context, when string) {
	r.c.Net.HealAll()
	for _, n := range r.c.Nodes {
		if n.Proc.Pid() == 0 {
			if err := r.restart(ctx, n.ID); err != nil {
				r.warnf("%s: restart node %d: %v", when, n.ID, err)
			}
		} else {
			_ = n.Proc.Continue()
		}
	}
	rctx, cancel := context.WithTimeout(ctx, r.cfg.RecoverTimeout)
	defer cancel()
	if err := r.waitHealthy(rctx); err != nil {
		r.mu.Lock()
		r.unhealed++
		r.mu.Unlock()
		r.warnf("%s: %v", when, err)
	}
}
