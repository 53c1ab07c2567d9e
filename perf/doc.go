// Package perf captures pprof profiles from a running Chronik broker
// through its admin listener (chronik serve --admin-listen) and analyses
// them with github.com/google/pprof/profile: top functions by flat and
// cumulative cost, and the difference between two captures.
//
// A capture directory holds:
//
//	cpu.pb.gz      CPU profile over the capture window (/debug/pprof/profile?seconds=N)
//	heap.pb.gz     heap at the end (inuse_space is summarised)
//	allocs.pb.gz   allocations since start (alloc_space is summarised)
//	mutex.pb.gz    mutex contention during the window (delay)
//	block.pb.gz    blocking during the window (delay)
//	summary.txt    top functions of each profile by flat and cumulative cost
//
// Mutex and block profiling cost time in the broker, so the broker starts
// with both off; Capture switches them on (POST /debug/contention) for the
// window and off again after.
package perf
