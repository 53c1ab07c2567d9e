// Package wal is Chronik's per-partition log on disk.
//
// One directory per partition holds segment files of byte-exact Kafka v2
// RecordBatches, each named by the base offset of its first batch, with a
// sparse offset index and a time index beside it. Batches are written with
// pwrite at a tracked position; durability is explicit (Sync registers a
// waiter that a single flusher goroutine releases after fdatasync). Every
// disk operation goes through the FS interface so tests can inject errors
// and simulate crashes.
//
// wal imports no other package of Chronik's.
package wal
