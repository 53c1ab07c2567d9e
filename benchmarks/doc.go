// Package benchmarks is Chronik's benchmark lab: it runs workloads against
// Chronik and against kfake (franz-go's in-process Kafka, run here as its
// own process) side by side, and turns the runs into same-run ratios, a
// report with plots, and a regression gate. cmd/chronik-bench is its CLI.
//
// # A run
//
//	Runner.RunSuite
//	  for round in 0..Rounds-1:
//	    for each Scenario (i):
//	      systems in order [chronik, kfake], reversed when round+i is odd
//	      RunOne: Peers.Start (fresh process, fresh data dir, free 127.0.0.1
//	              port) -> RunWorkload (kgo clients in this process) -> Stop
//	              /proc/<pid>/stat read at the window's start and end (CPU-s),
//	              /proc/<pid>/status VmHWM at the end (peak RSS)
//
// Runs of the two systems for one scenario and round are back to back, so
// each pair saw nearly the same load from whatever else the machine runs.
// A ratio is the median over rounds of the per-round ratio of the pair. A
// run's steady msg/s is the median of its rates over 200 ms sub-intervals;
// the msg/s ratios use it, since a burst of load from another process
// moves a mean more than a median.
//
// Scenario kinds: produce (producers write Count records or for Duration,
// after Warmup; latency = Produce call to acknowledgement), consume (Count
// records preloaded, then read from the start; latency = each PollFetches
// that returned records), e2e (produce at Rate while one consumer reads;
// latency = receive time - send time stamped in the value). Adding a
// scenario is adding a Scenario value to a Suite; a ratio over it is a
// ratioSpec (ratios.go).
//
// Durability of the peers: Chronik is always on disk and fsyncs before
// answering acks=-1 (group commit). kfake runs in memory unless the
// scenario is Durable; then it gets kfake.DataDir and kfake.SyncWrites,
// which fsync the segment and index after every batch (see DurabilityNote).
//
// # results.json (schema 1)
//
//	{
//	  "schema": 1,
//	  "suite": "bench" | "gate" | scenario kind,
//	  "command": "bin/chronik-bench bench ...",
//	  "started", "finished": RFC 3339 UTC,
//	  "host": {"hostname", "cpus", "go_version", "kernel", "loadavg_at_start"},
//	  "rounds": N,
//	  "scenarios": [Scenario...]   name, kind, producers, partitions, record_bytes,
//	                               acks, linger_ns, batch_bytes, compression,
//	                               duration_ns, warmup_ns, count, rate, durable
//	  "runs": [{                   one per scenario x system x round x attempt
//	    "scenario", "system" ("chronik" | "kfake"), "round" (0-based),
//	    "attempt" (0; 1 = the gate's retry, which replaces attempt 0),
//	    "durability": what the peer was started with,
//	    "records", "bytes" (value bytes), "errors", "seconds" (window),
//	    "msg_per_sec" (records / seconds), "steady_msg_per_sec",
//	    "mb_per_sec" (10^6 bytes), "cpu_seconds" (broker, in the window),
//	    "cpu_sec_per_million" (cpu_seconds per 10^6 records), "peak_rss_bytes",
//	    "latency": {"count", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms",
//	                "curve": [{"percentile", "ms"}...]}
//	  }...],
//	  "summaries": [{              medians over rounds of the latest attempts
//	    "scenario", "system", "rounds", "durability", "msg_per_sec",
//	    "steady_msg_per_sec", "mb_per_sec", "cpu_sec_per_million",
//	    "latency" (point-wise medians; count = sum),
//	    "peak_rss_bytes" (largest), "errors" (sum)
//	  }...],
//	  "ratios": [{
//	    "name", "description", "value" (median of per_round; 0 = no data),
//	    "per_round": [...], "higher_is_better", "gated", "scenarios"
//	  }...],
//	  "notes": ["..."]
//	}
//
// # baseline.json (schema 1)
//
//	{
//	  "schema": 1, "created", "command", "host", "suite": "gate", "rounds",
//	  "tolerance": 0.10,                       default allowed fall
//	  "ratios": {
//	    "<ratio name>": {"value", "per_round", "higher_is_better",
//	                     "tolerance" (optional override), "description"}
//	  }
//	}
//
// The gate (Gate.Run) fails a ratio that is higher-is-better and below
// value*(1-tolerance), or lower-is-better and above value*(1+tolerance), or
// missing. On a failure it runs the scenarios behind the failing ratios once
// more (all rounds) and judges again. `chronik-bench gate --write-baseline`
// writes the file; with --widen-noisy (default) a ratio whose rounds were
// noisier than the default tolerance gets NoiseTolerance (three median
// absolute deviations, at most 50%): on a shared 2-core machine a smaller
// change cannot be told from noise.
//
// # The failover scenario and its section of results.json
//
// `chronik-bench failover` (make bench-failover; RunFailover, failover.go)
// starts a 3-broker cluster with the testbed (free loopback ports, the
// default liveness settings: broker.heartbeat.interval.ms 100,
// broker.session.timeout.ms 1000; leader.imbalance.check.interval.seconds
// 1), a topic with RF=3 and min.insync.replicas=2, and idempotent acks=-1
// franz-go producers at a fixed rate, round-robin over the partitions. It
// then runs kill9-leader, kill9-controller and sigterm-leader events,
// spread over the run, each on a steady cluster (every partition led by
// its preferred replica, every ISR full, every partition acknowledging).
// An event's time K is taken just before the signal. Per partition the
// victim led or followed: first_ack_ms = K -> the acknowledgement of the
// first record handed to Produce at or after K; gap_ms = the longest time
// between successive acknowledgements from K until the restart. The
// victim is restarted Down after all its partitions acknowledged such a
// record, and the next event waits until it is back in every ISR and
// leads its preferred partitions. A full read at the end is checked by
// testbed/streamcheck. results.json gets suite "failover", no scenarios or
// runs, and:
//
//	"failover": {
//	  "config": {"partitions", "producers", "rate_per_producer", "kills",
//	             "controller_kills", "terminates", "down_ms",
//	             "metadata_min_age_ms", "broker_properties"},
//	  "rows": [{                 kill9-leader | kill9-controller | sigterm-leader |
//	                             kill9-follower-stall (the kill9-leader events'
//	                             partitions the victim only followed)
//	    "name", "description", "events" (with a sample), "timed_out" (partitions),
//	    "first": per event the earliest partition's first_ack_ms,
//	    "all":   per event the latest partition's first_ack_ms,
//	    "gap":   per event the longest gap_ms,
//	             each {"count", "p50_ms", "p90_ms", "p99_ms", "max_ms",
//	                   "samples_ms"} (nearest-rank percentiles, sorted samples)
//	  }...],
//	  "check": {"acked", "read", "lost", "duplicates", "moved", "gaps",
//	            "reorders", "foreign", "problems"},
//	  "produce_errors", "first_produce_errors",
//	  "events": [{"kind", "victim", "controller", "at", "down_ms",
//	              "restart_to_steady_ms", "note",
//	              "partitions": [{"partition", "role", "first_ack_ms", "gap_ms", "timed_out"}]}]
//	}
//
// The command exits 1 when the check found a problem or a produce failed.
package benchmarks
