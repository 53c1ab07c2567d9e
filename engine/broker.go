package engine

import (
	"errors"
	"fmt"
	"github.com/chronik/chronik/engine/partition"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronik/chronik/engine/group"
	"github.com/chronik/chronik/replicate"
	"github.com/chronik/chronik/wal"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Request is one request as netio hands it over: the header fields the
// engine needs and the undecoded body, which the engine may keep.
type Request struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      string
	Body          []byte
	RemoteAddr    string // the client's host:port (group member client host)
	ConnID        uint64 // the connection it came on (netio's id; 0 in process)
	// BodyOwner, when set, takes Body back: the engine calls its Release
	// once, when nothing reads Body again (today only Produce does, once
	// its batches are written and its response is out: the large frames).
	// Nil: Body is left to the garbage collector.
	BodyOwner interface{ Release() }
}

// Broker is one Chronik broker's engine: standalone (the default) or, after
// JoinCluster, a member of a cluster. All methods are safe for concurrent
// use.
type Broker struct {
	cfg    Config
	fs     wal.FS
	log    *slog.Logger
	now    func() time.Time
	meta   *metaStore
	closed chan struct{}
	bg     sync.WaitGroup

	// Locks, taken in this order (doc.go has the whole order):
	//   adminMu  serialises changes of topics and broker configs together
	//            with their I/O (opening, closing and deleting logs,
	//            meta.json): admin handlers, the cluster mirror.
	//   metaMu   guards meta (cluster id, producer-id block) and serialises
	//            meta.json writes (saveMeta).
	//   mu       the topic maps and the dynamic config layer, in memory
	//            only: never held across I/O or a call into another
	//            package or the Cluster.
	adminMu  sync.Mutex
	metaMu   sync.Mutex
	mu       sync.RWMutex
	topics   map[string]*topic
	topicIDs map[[16]byte]*topic
	dynamic  map[string]string // dynamic broker configs set by AlterConfigs; replaced, never modified

	groups  *group.Coordinator // consumer groups (engine/group, groups_host.go)
	flusher *wal.FlushPool     // group commit shared by every partition log (flush.go)

	advertisedAddr atomic.Pointer[string] // host:port for Metadata, set once bound

	clusterImpl atomic.Pointer[Cluster] // standalone, or raftCluster after JoinCluster

	pidMu sync.Mutex // the cluster producer-id block (meta.go)
	pids  struct{ next, limit int64 }

	replicas      *replicate.Manager // follower fetchers; nil standalone (JoinCluster starts it)
	mirroredIndex uint64             // the last metadata image mirrored; guarded by adminMu
	hwAtStart     map[string]int64   // checkpointed high watermarks read at Open ("topic-p")
	ctr           counters           // request counters for Metrics (metrics.go)
	dbg           debugState         // the switchable disk of bin/chronik-debug (debug.go); empty otherwise

	storageFailed atomic.Bool // a partition log's disk failed (storage.go)

	parkMu   sync.Mutex                // a leaf lock: guards parked and draining
	parked   map[*parkedFetch]struct{} // long-poll fetches waiting, answered at Close or Drain (01_fetch.go)
	draining bool                      // Drain was called: fetches no longer park
}

// Open loads the broker state from cfg.DataDir through fsys, recovering
// every partition log, and starts background work (retention, interval
// flush). A nil fsys means the real file system.
func Open(cfg Config, fsys wal.FS, logger *slog.Logger) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if fsys == nil {
		fsys = wal.OSFS()
	}
	if logger == nil {
		logger = slog.Default()
	}
	b := &Broker{
		cfg:      cfg,
		fs:       fsys,
		log:      logger,
		now:      time.Now,
		closed:   make(chan struct{}),
		topics:   make(map[string]*topic),
		topicIDs: make(map[[16]byte]*topic),
		dynamic:  make(map[string]string),
		parked:   make(map[*parkedFetch]struct{}),
	}
	b.fs = b.debugWrapFS(fsys)
	var c Cluster = standalone{b}
	b.clusterImpl.Store(&c)
	start := time.Now()
	if err := b.openFlusher(); err != nil {
		return nil, err
	}
	if err := b.loadHWCheckpoint(); err != nil {
		b.closeFlusher()
		return nil, err
	}
	if err := b.load(); err != nil {
		b.closeLogs()
		b.closeFlusher()
		return nil, err
	}
	if err := b.openGroups(); err != nil {
		b.closeGroups()
		b.closeLogs()
		b.closeFlusher()
		return nil, err
	}
	b.log.Info("engine ready", "data_dir", cfg.DataDir, "topics", len(b.topics), "recovery", time.Since(start))
	b.bg.Add(2)
	go b.background()
	go b.checkpointLoop()
	return b, nil
}

// SetAdvertisedListener sets the host:port Metadata and DescribeCluster
// advertise; the server calls it once it knows its bound port.
func (b *Broker) SetAdvertisedListener(addr string) { b.advertisedAddr.Store(&addr) }

// Config returns the broker's static configuration.
func (b *Broker) Config() Config { return b.cfg }

// Close stops background work and closes every partition log (syncing it and
// marking it clean). Requests still in flight fail with storage errors.
func (b *Broker) Close() error {
	select {
	case <-b.closed:
		return nil
	default:
	}
	close(b.closed)
	b.Drain()
	if b.replicas != nil {
		b.replicas.Close() // no fetcher writes a log from now on
	}
	b.bg.Wait()
	b.closeGroups()
	errHW := b.writeHWCheckpoint()
	err := b.closeLogs()
	b.closeFlusher()
	return errors.Join(errHW, err)
}

func (b *Broker) closeLogs() error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	ps := b.allPartitions()
	errs := make([]error, len(ps))
	// num.recovery.threads.per.data.dir at a time: each close waits for
	// fsyncs, which the file system commits together when they overlap.
	parallel(len(ps), int(b.cfg.RecoveryThreads), func(i int) {
		p := ps[i]
		p.Abandon()
		if err := p.Checkpoint(); err != nil { // the producer-state snapshot for the next Open
			b.log.Warn("checkpoint at close", "partition", p.String(), "err", err)
		}
		if err := p.Log().Close(); err != nil {
			errs[i] = fmt.Errorf("close %s: %w", p, err)
		}
	})
	return errors.Join(errs...)
}

// Handle decodes and serves one request. respond is called exactly once
// (with nil for "no response"), possibly after Handle returns, from any
// goroutine. A returned error means the connection must be closed. A
// response with a ReleaseBody method (Fetch) borrows log memory: the
// receiver must call ReleaseBody once it has written or copied the bytes.
func (b *Broker) Handle(r *Request, respond func(kmsg.Response)) error {
	k, ok := handlers[r.Key]
	if !ok {
		return fmt.Errorf("unsupported API key %d", r.Key)
	}
	if r.Key == kmsg.ApiVersions.Int16() && r.Version > k.max {
		respond(apiVersionsUnsupported())
		return nil
	}
	if r.Version < k.min || r.Version > k.max {
		return fmt.Errorf("%s v%d outside supported range v%d-v%d", kmsg.NameForKey(r.Key), r.Version, k.min, k.max)
	}
	if k.raw != nil {
		return k.raw(b, r, respond)
	}
	kreq := kmsg.RequestForKey(r.Key)
	kreq.SetVersion(r.Version)
	if err := kreq.ReadFrom(r.Body); err != nil {
		return fmt.Errorf("decode %s v%d: %w", kmsg.NameForKey(r.Key), r.Version, err)
	}
	c := &call{kreq: kreq, respond: respond, req: r}
	resp, err := k.handle(b, c)
	if err != nil {
		return err
	}
	if resp != nil {
		resp.SetVersion(r.Version)
		respond(resp)
	}
	return nil
}

// inlineProduceMaxBytes is the largest Produce frame handled inline
// (Inline): its pwrite and CRC take microseconds, while a larger one
// would hold up the event loop's other connections.
const inlineProduceMaxBytes = 64 << 10

// Inline reports whether a request may be handled on the network event
// loop that read it instead of the connection's worker goroutine
// (netio.Inliner): Produce up to inlineProduceMaxBytes, Fetch and
// ApiVersions. They never wait on another request, the network or Raft:
// an acks=-1 produce waits for its fdatasync and followers through
// callbacks, a long-poll fetch parks (parkedFetch), an ISR change a
// follower's fetch brings is committed on its own goroutine (proposeISR).
// What they may still do on the loop: a small pwrite, a segment roll, the
// write of a fetch response whose records are not in the page cache
// (Kafka's network threads do that sendfile too).
//
// At 5,000 records/s (make bench's e2e) the hand-off to the worker, a
// channel send that wakes another thread and then waits for the
// scheduler, cost more than the requests: inline, the broker's CPU per
// record fell 46% and its p99 from 1.8x to 1.0x kfake's (the commit that
// added this gives the runs).
func (b *Broker) Inline(key, version int16, size int) bool {
	switch key {
	case kmsg.Produce.Int16():
		return size <= inlineProduceMaxBytes
	case kmsg.Fetch.Int16(), kmsg.ApiVersions.Int16():
		return true
	}
	return false
}

// background runs retention, periodic flushes (flush.go), the ISR shrink
// check and the high-watermark checkpoint (replication.go).
func (b *Broker) background() {
	defer b.bg.Done()
	retention := time.NewTicker(time.Duration(max(b.cfg.RetentionCheckMs, 10)) * time.Millisecond)
	defer retention.Stop()
	flush := time.NewTicker(time.Duration(max(b.cfg.FlushMs, 1)) * time.Millisecond)
	defer flush.Stop()
	isr := time.NewTicker(b.cfg.Replication.lagTimeMax() / 2)
	defer isr.Stop()
	hw := time.NewTicker(time.Duration(b.cfg.Replication.HWCheckpointIntervalMs) * time.Millisecond)
	defer hw.Stop()
	for {
		select {
		case <-b.closed:
			return
		case <-retention.C:
			b.applyRetention()
		case <-flush.C:
			b.flushTick()
		case <-isr.C:
			b.checkISRs()
		case <-hw.C:
			if err := b.writeHWCheckpoint(); err != nil {
				b.log.Warn("high watermark checkpoint", "err", err)
			}
		}
	}
}

// checkpointLoop records, every log.flush.offset.checkpoint.interval.ms,
// the recovery point and a producer-state snapshot of each partition that
// grew enough since its last one (checkpointPartitions), so that a restart
// after a crash checks and replays only what came after. It runs apart
// from background: a round waits for fsyncs.
func (b *Broker) checkpointLoop() {
	defer b.bg.Done()
	if b.cfg.RecoveryCheckpointMs <= 0 {
		return
	}
	tick := time.NewTicker(time.Duration(b.cfg.RecoveryCheckpointMs) * time.Millisecond)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-b.closed:
			return
		case <-tick.C:
			b.checkpointPartitions(n%recoveryCheckpointMaxTicks == 0)
		}
	}
}

// recoveryCheckpointMaxTicks is every how many checkpoint intervals a
// partition that grew, but by less than
// log.flush.offset.checkpoint.min.bytes, is checkpointed: 12, a minute at
// the default 5 s (Kafka's own log.flush.offset.checkpoint.interval.ms).
const recoveryCheckpointMaxTicks = 12

// checkpointPartitions checkpoints, num.recovery.threads.per.data.dir at a
// time, every partition whose log holds at least
// log.flush.offset.checkpoint.min.bytes past its recovery point, and, when
// all is set (every recoveryCheckpointMaxTicks-th tick), every partition
// that grew at all. A checkpoint costs a partition about five fsyncs and
// two file replacements: at every tick for every partition that grew, a
// broker with 1,000 partitions each taking a trickle spent 58% of its CPU
// on them (the partitions sweep's load, excluding the topic's creation),
// while what a crash leaves to scan past a point is bounded by the bytes
// anyway.
func (b *Broker) checkpointPartitions(all bool) {
	var due []*partition.Partition
	for _, p := range b.allPartitions() {
		l := p.Log()
		if l.LogEndOffset() > l.RecoveryPoint() && (all || l.BytesPastRecoveryPoint() >= b.cfg.RecoveryCheckpointMinBytes) {
			due = append(due, p)
		}
	}
	parallel(len(due), int(b.cfg.RecoveryThreads), func(i int) {
		if err := due[i].Checkpoint(); err != nil && !errors.Is(err, wal.ErrClosed) {
			b.log.Warn("recovery checkpoint", "partition", due[i].String(), "err", err)
		}
	})
}

func (b *Broker) applyRetention() {
	for _, p := range b.allPartitions() {
		n, err := p.Log().ApplyRetention(p.HighWatermark())
		if err != nil {
			b.log.Warn("retention failed", "partition", p.String(), "err", err)
			continue
		}
		if n > 0 {
			b.log.Info("retention deleted segments", "partition", p.String(), "segments", n, "log_start_offset", p.Log().LogStartOffset())
		}
	}
}

// allPartitions returns every local replica.
func (b *Broker) allPartitions() []*partition.Partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var ps []*partition.Partition
	for _, t := range b.topics {
		for _, p := range t.partitions {
			if p != nil {
				ps = append(ps, p)
			}
		}
	}
	return ps
}

// errCode is a shorthand for a kerr error's code; nil is 0.
func errCode(err *kerr.Error) int16 {
	if err == nil {
		return 0
	}
	return err.Code
}

// strp returns a pointer to s, for nullable response strings.
func strp(s string) *string { return &s }
