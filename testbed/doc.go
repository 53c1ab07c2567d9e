// Package testbed runs Chronik brokers as local processes for tests and for
// `make cluster`: Proc is one program run at a time (start with its output
// in a log file, signals by pid, kill / pause / continue / terminate, log
// tail); Cluster starts N brokers from the built binary with a generated
// cluster config (free 127.0.0.1 ports, one data directory per node),
// waits until every broker answers Metadata listing all of them, offers
// kill / stop / pause / continue / restart per node, and tears everything
// down by pid.
//
// Layout under Config.Dir:
//
//	cluster.conf            the cluster config every broker reads (raftmeta format)
//	broker.properties       shared broker properties, when any
//	node-<id>/data          the broker's --data-dir (partition logs, raft/)
//	node-<id>/broker.log    the broker's stdout and stderr, every run appended
//
// Proc and Cluster do not import testing: the chronik-testbed command uses
// them too. Processes are only ever signalled by their own pid.
package testbed
