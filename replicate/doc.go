// Package replicate is the follower side of Chronik's replication: a
// broker fetches, from each partition's leader, exactly the partitions it
// is a follower replica of, and appends the leader's batches byte-exact.
// The leader side (answering follower fetches, the high watermark, the
// ISR) lives in engine/partition and the engine's Fetch handler: one fetch
// path serves consumers and followers.
//
// # Fetchers
//
// One fetcher goroutine per leader broker this broker follows, with one
// TCP connection to the leader's replication address (from the cluster
// config). Each cycle sends one Kafka Fetch (v15: topic ids, ReplicaState
// {replica id, broker epoch}, per partition CurrentLeaderEpoch, FetchOffset
// = the local log end offset, LastFetchedEpoch = the local latest leader
// epoch) covering every partition followed from that leader, so any Kafka
// tool can read what is on the wire:
//
//	follower                                    leader
//	   │ Fetch v15 {replica 2, epoch E_b;              │
//	   │   p0 offset 1200 lastEpoch 4, p3 ...}  ───▶   │ leader checks epochs,
//	   │                                               │ records follower LEOs,
//	   │   ◀─── {p0 HW 1200, records [1200,1350);      │ advances the HW
//	   │         p3 DivergingEpoch {3, 880}}           │
//	   │ append p0 byte-exact (wal.AppendReplica)      │
//	   │ truncate p3 to the divergence point           │
//	   │ fdatasync every partition appended (group     │
//	   │   commit), then the next Fetch reports them   │
//
// # Durability beyond Kafka
//
// With replica.fsync.enable (the default) a follower fetches again — and
// so reports its new log end offset to the leader — only once everything
// it appended in the cycle is fdatasync'd: an acknowledged acks=-1 record
// is on disk on every ISR member, and a power cut of the whole cluster
// loses nothing acknowledged. Without it the follower reports as soon as
// it has written (Kafka's behaviour: durability by replication alone).
//
// # Truncation (KIP-101, KIP-279, KIP-320)
//
// The follower never truncates to its high watermark. Every fetch carries
// its last fetched epoch; a leader whose history differs answers with
// DivergingEpoch {epoch, end offset}, and the follower cuts its log at the
// first offset the two histories do not share (Kafka's
// getOffsetTruncationState): at the leader's end offset if the follower
// has that epoch, else at the follower's own end of the largest epoch
// below it, after which the next fetch repeats the check until the epochs
// agree. A follower below the leader's log start offset restarts its log
// there (TruncateFullyAndStartAt); one above the leader's log end (no
// epochs to compare) truncates to it.
//
// # Membership changes
//
// The engine calls Manager.Set with the whole set of partitions this
// broker follows after every metadata change. A partition that left a
// fetcher (deleted, moved to another leader, or now led here) is never
// touched by that fetcher again once Set returns: a fetcher applies a
// response under its cycle lock and skips partitions whose target changed
// since the request, and Set takes that lock after removing them.
//
// # Goroutines and locks
//
//	Manager.Set (engine mirror) ─▶ Manager.mu ─▶ fetcher.mu; then fetcher.cycle (barrier)
//	fetcher goroutine: fetcher.cycle ─▶ fetcher.mu (briefly) ─▶ the partition's locks
//	                   (AppendReplicated / TruncateTo take partition.mu)
//
// replicate imports wal and no engine package: a followed partition is a
// Replica, which engine/partition implements.
package replicate
