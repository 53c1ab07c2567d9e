package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/chronik/chronik/netio"
)

// The admin listener (--admin-listen, loopback only) serves:
//
//	/debug/pprof/...      net/http/pprof (profile, heap, allocs, mutex, block, goroutine, trace)
//	/debug/contention     POST ?mutex_fraction=N&block_rate_ns=N sets
//	                      runtime.SetMutexProfileFraction / SetBlockProfileRate
//	                      (both 0 at start, so the mutex and block profiles are
//	                      empty until asked for); GET reports the current values
//	/metrics              Prometheus text format 0.0.4: netio, engine and wal counters
//	/debug/disk           bin/chronik-debug only (engine.DebugHooks): POST
//	                      ?fault=off|fsync|write|slow[&delay_ms=N] switches the
//	                      partition logs' disk fault on the live broker (fsync:
//	                      fdatasync/syncfs fail with EIO; write: pwrite too;
//	                      slow: each sync N ms longer); GET reports
//	                      "fault=F delay_ms=N injected=N"

// adminServer is the running admin listener.
type adminServer struct {
	srv *http.Server
	ln  net.Listener
}

// checkLoopback refuses an admin address that is not a loopback IP: the
// listener exposes profiles and internals and has no authentication.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--admin-listen %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--admin-listen %q: only a loopback address (127.0.0.1, ::1, localhost) is allowed", addr)
	}
	return nil
}

// startAdmin binds addr and serves the admin endpoints on a goroutine.
func startAdmin(addr string, b *engine.Broker, srv *netio.Server, log *slog.Logger) (*adminServer, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/contention", handleContention)
	if engine.DebugHooks {
		mux.HandleFunc("/debug/disk", func(w http.ResponseWriter, r *http.Request) { handleDiskFault(w, r, b) })
	}
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		writeMetrics(w, srv.Stats(), b.Metrics())
	})
	a := &adminServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln: ln}
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener stopped", "err", err)
		}
	}()
	log.Info("admin listening", "addr", ln.Addr().String())
	return a, nil
}

func (a *adminServer) stop(ctx context.Context) error {
	if a == nil {
		return nil
	}
	return a.srv.Shutdown(ctx)
}

// mutexFraction and blockRate remember the last values set (the runtime
// has no getter for the block rate).
var mutexFraction, blockRate atomic.Int64

func handleContention(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		mf, err1 := strconv.Atoi(r.URL.Query().Get("mutex_fraction"))
		br, err2 := strconv.Atoi(r.URL.Query().Get("block_rate_ns"))
		if err := errors.Join(err1, err2); err != nil || mf < 0 || br < 0 {
			http.Error(w, "want mutex_fraction=N&block_rate_ns=N, N >= 0", http.StatusBadRequest)
			return
		}
		runtime.SetMutexProfileFraction(mf)
		runtime.SetBlockProfileRate(br)
		mutexFraction.Store(int64(mf))
		blockRate.Store(int64(br))
	default:
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
		return
	}
	fmt.Fprintf(w, "mutex_fraction=%d block_rate_ns=%d\n", mutexFraction.Load(), blockRate.Load())
}

// handleDiskFault switches the broker's disk fault (chronik-debug only).
func handleDiskFault(w http.ResponseWriter, r *http.Request, b *engine.Broker) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		delayMs := 0
		if s := r.URL.Query().Get("delay_ms"); s != "" {
			var err error
			if delayMs, err = strconv.Atoi(s); err != nil || delayMs < 0 {
				http.Error(w, "delay_ms: want N >= 0", http.StatusBadRequest)
				return
			}
		}
		if err := b.SetDiskFault(r.URL.Query().Get("fault"), time.Duration(delayMs)*time.Millisecond); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	default:
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
		return
	}
	f, d, n := b.DiskFault()
	fmt.Fprintf(w, "fault=%s delay_ms=%d injected=%d\n", f, d.Milliseconds(), n)
}

// metric is one sample of the exposition.
type metric struct {
	name, help, typ string
	value           float64
}

// writeMetrics writes the Prometheus text exposition format.
func writeMetrics(w io.Writer, s netio.Stats, m engine.Metrics) {
	ms := []metric{
		{"chronik_net_open_connections", "Connections open now.", "gauge", float64(s.OpenConns)},
		{"chronik_net_accepted_connections_total", "Connections accepted.", "counter", float64(s.AcceptedConns)},
		{"chronik_net_inflight_requests", "Requests read but not answered.", "gauge", float64(s.InFlight)},
		{"chronik_net_requests_total", "Request frames dispatched.", "counter", float64(s.Requests)},
		{"chronik_net_responses_total", "Response frames written.", "counter", float64(s.Responses)},
		{"chronik_net_no_responses_total", "Requests answered with nothing (acks=0).", "counter", float64(s.NoResponses)},
		{"chronik_net_received_bytes_total", "Request bytes read.", "counter", float64(s.BytesIn)},
		{"chronik_net_sent_bytes_total", "Response bytes written.", "counter", float64(s.BytesOut)},
		{"chronik_net_pauses_total", "Reads paused for a full request queue.", "counter", float64(s.Pauses)},
		{"chronik_net_output_pauses_total", "Reads paused for unread responses.", "counter", float64(s.OutputPauses)},
		{"chronik_net_closed_oversize_total", "Connections closed for a bad frame size.", "counter", float64(s.ClosedOversize)},
		{"chronik_net_closed_bad_header_total", "Connections closed for a bad request header.", "counter", float64(s.ClosedBadHeader)},
		{"chronik_net_closed_handler_error_total", "Connections closed after a handler error.", "counter", float64(s.ClosedHandlerError)},
		{"chronik_net_closed_idle_total", "Connections closed when idle.", "counter", float64(s.ClosedIdle)},
		{"chronik_net_closed_overflow_total", "Paused connections closed for sending past every bound.", "counter", float64(s.ClosedOverflow)},
		{"chronik_topics", "Topics.", "gauge", float64(m.Topics)},
		{"chronik_partitions", "Partitions.", "gauge", float64(m.Partitions)},
		{"chronik_produce_requests_total", "Produce requests.", "counter", float64(m.ProduceRequests)},
		{"chronik_produced_batches_total", "Record batches appended.", "counter", float64(m.ProducedBatches)},
		{"chronik_produced_records_total", "Records appended.", "counter", float64(m.ProducedRecords)},
		{"chronik_produce_partition_errors_total", "Produce partitions answered with an error.", "counter", float64(m.ProduceErrors)},
		{"chronik_fetch_requests_total", "Fetch requests.", "counter", float64(m.FetchRequests)},
		{"chronik_wal_appends_total", "WAL batch appends (open partitions).", "counter", float64(m.WAL.Appends)},
		{"chronik_wal_appended_bytes_total", "WAL bytes appended (open partitions).", "counter", float64(m.WAL.AppendedBytes)},
		{"chronik_wal_rolls_total", "WAL segment rolls.", "counter", float64(m.WAL.Rolls)},
		{"chronik_wal_syncs_total", "WAL fdatasync rounds.", "counter", float64(m.WAL.Syncs)},
		{"chronik_wal_synced_waiters_total", "WAL sync waiters released.", "counter", float64(m.WAL.SyncedWaiters)},
	}
	r := m.Replication
	ms = append(ms,
		metric{"chronik_replication_leader_partitions", "Partitions this broker leads.", "gauge", float64(r.LeaderPartitions)},
		metric{"chronik_replication_under_replicated_partitions", "Partitions led here whose ISR is smaller than their replica set (Kafka's UnderReplicatedPartitions).", "gauge", float64(r.UnderReplicatedPartitions)},
		metric{"chronik_replication_offline_partitions", "Partitions without a leader, cluster-wide (Kafka's OfflinePartitionsCount).", "gauge", float64(r.OfflinePartitions)},
		metric{"chronik_replication_isr_shrinks_total", "ISR shrinks committed by this broker as leader (Kafka's IsrShrinksPerSec).", "counter", float64(r.ISRShrinks)},
		metric{"chronik_replication_isr_expands_total", "ISR expansions committed by this broker as leader (Kafka's IsrExpandsPerSec).", "counter", float64(r.ISRExpands)},
		metric{"chronik_replication_follower_fetches_total", "Fetch cycles this broker ran as a follower.", "counter", float64(r.FollowerFetches)},
		metric{"chronik_replication_truncations_total", "Divergence truncations and log resets this broker made as a follower.", "counter", float64(r.Truncations)},
		metric{"chronik_replication_observed_bytes_total", "Record bytes read and discarded in the lab's whole-node mode (replica.fetch.whole.node.enable).", "counter", float64(r.ObservedBytes)},
	)
	for _, x := range ms {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", x.name, x.help, x.name, x.typ, x.name,
			strconv.FormatFloat(x.value, 'g', -1, 64))
	}
	fmt.Fprintf(w, "# HELP chronik_consumer_fetch_bytes_total Record bytes served to consumers, from partitions led here (role=leader) or from follower replicas here (role=follower, KIP-392).\n# TYPE chronik_consumer_fetch_bytes_total counter\n")
	fmt.Fprintf(w, "chronik_consumer_fetch_bytes_total{role=\"leader\"} %d\nchronik_consumer_fetch_bytes_total{role=\"follower\"} %d\n", m.ConsumerLeaderBytes, m.ConsumerFollowerBytes)
	fmt.Fprintf(w, "# HELP chronik_consumer_fetch_reads_total Partitions of consumer fetches answered with records, by the role of the replica here.\n# TYPE chronik_consumer_fetch_reads_total counter\n")
	fmt.Fprintf(w, "chronik_consumer_fetch_reads_total{role=\"leader\"} %d\nchronik_consumer_fetch_reads_total{role=\"follower\"} %d\n", m.ConsumerLeaderReads, m.ConsumerFollowerReads)
	fmt.Fprintf(w, "# HELP chronik_fetch_preferred_replica_total Consumer fetch partitions this leader answered with a preferred read replica (replica.selector.class).\n# TYPE chronik_fetch_preferred_replica_total counter\nchronik_fetch_preferred_replica_total %d\n", m.PreferredReplicaAnswers)
	writeLabeled(w, "chronik_replication_sent_bytes_total", "Record bytes served to each follower broker (leader side).", "counter", "follower", r.SentToFollower)
	writeLabeled(w, "chronik_replication_received_bytes_total", "Bytes read from each leader broker's replication socket (follower side).", "counter", "leader", r.ReceivedFromLeader)
	writeLags(w, r.Lags)
}

// writeLabeled writes one metric with a broker-id label per value.
func writeLabeled(w io.Writer, name, help, typ, label string, values map[int32]int64) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	ids := make([]int32, 0, len(values))
	for id := range values {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintf(w, "%s{%s=\"%d\"} %d\n", name, label, id, values[id])
	}
}

// writeLags writes each follower's lag on each partition led here, in
// records and in seconds (Kafka's ReplicaLag / FetcherLagMetrics).
func writeLags(w io.Writer, lags []engine.PartitionLag) {
	fmt.Fprintf(w, "# HELP chronik_replication_lag_records Records a follower is behind its leader's log end.\n# TYPE chronik_replication_lag_records gauge\n")
	for _, l := range lags {
		fmt.Fprintf(w, "chronik_replication_lag_records{topic=%q,partition=\"%d\",follower=\"%d\",in_isr=\"%t\"} %d\n", l.Topic, l.Partition, l.Replica, l.InISR, l.Records)
	}
	fmt.Fprintf(w, "# HELP chronik_replication_lag_seconds Time since a follower was last caught up.\n# TYPE chronik_replication_lag_seconds gauge\n")
	for _, l := range lags {
		fmt.Fprintf(w, "chronik_replication_lag_seconds{topic=%q,partition=\"%d\",follower=\"%d\",in_isr=\"%t\"} %g\n", l.Topic, l.Partition, l.Replica, l.InISR, l.Time.Seconds())
	}
}
