// Package partition is one partition replica's state on this broker: its
// log (a wal.Log), its leader epoch and high watermark, the state of the
// idempotent producers writing to it, and the long-poll fetches waiting for
// it to grow. The engine's handlers read and write a partition only
// through it; replication adds the leader's view of its followers and the
// follower's fetch state here.
//
// # State and who changes it
//
//	log            appends: Partition.AppendProduced (Produce, with the
//	               idempotence check) and Partition.AppendInternal (the group
//	               coordinator); reads: Log() for fetch, list-offsets and
//	               the admin requests
//	leader epoch   SetLeaderEpoch, by the cluster mirror (standalone: 0);
//	               every append is stamped with it
//	high watermark the offset consumers may read below: the log end offset
//	               with one replica
//	producers      per producer id: epoch and the last 5 batches' sequence
//	               ranges (Kafka's duplicate window), restored at Open from
//	               the newest usable <offset>.snapshot and the batch
//	               headers after it (snapshot.go: format, fallbacks), or
//	               from every header; Checkpoint writes the snapshots
//	waiters        parked fetches, woken after every change: by the
//	               produce handler once its request's appends are done
//	               (RunWaiters: on its goroutine), else on their own
//
// # Locks
//
// snapMu serialises Checkpoint (which holds it across the log's flush
// round and the snapshot's fsyncs) with the follower truncations
// (TruncateTo, TruncateFullyAndStartAt), so a snapshot never describes a
// log cut under it; it is taken before mu and by nothing that holds
// another engine lock but adminMu (the broker's close). mu guards the producer state and is held across the append (a pwrite, no
// fsync) so that the sequence check and the append are one step; it is the
// last engine lock in the broker's order (after the group coordinator's,
// which AppendInternal may be called under) and before the wal's own. wmu
// guards the waiter set and is never held with another lock.
//
// # Wake-ups
//
// A parked fetch must not miss an append that lands between its last read
// and its registration. Watch returns the partition's append count at the
// moment of registration; the fetch compares it with the count it read
// before its last look (ChangeCount) and looks again if they differ.
package partition
