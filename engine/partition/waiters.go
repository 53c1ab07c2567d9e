package partition

// Waiter is a parked long-poll fetch's registration on the partitions it
// watches: wake is called once per change of any of them (never with wmu
// held). inline says the caller holds no lock of this package and may lend
// its goroutine to the fetch (RunWaiters); otherwise (WakeWaiters, which
// partition code calls with its locks held) wake must neither block nor
// take a partition lock.
//
// A Waiter is a value its owner embeds (no allocation of its own), made
// ready by Init before its first Watch.
type Waiter struct {
	w Waker
}

// Waker is what a Waiter tells of a change.
type Waker interface {
	Wake(inline bool)
}

// Init makes w call wk.Wake on every change of a partition it Watches.
func (w *Waiter) Init(wk Waker) { w.w = wk }

// ChangeCount counts the partition's appends and high watermark moves: a
// fetch reads it before it looks at the log, and compares it with what
// Watch returns.
func (p *Partition) ChangeCount() uint64 { return p.changes.Load() }

// Watch registers w to be notified of every later change (append, high
// watermark move, leadership change) and returns the change count at
// registration: if it differs from the ChangeCount read before the
// fetch's last look, something changed unseen and the fetch must look
// again.
func (p *Partition) Watch(w *Waiter) uint64 {
	p.wmu.Lock()
	p.waiters[w] = struct{}{}
	p.wmu.Unlock()
	return p.changes.Load()
}

// Unwatch removes w.
func (p *Partition) Unwatch(w *Waiter) {
	p.wmu.Lock()
	delete(p.waiters, w)
	p.wmu.Unlock()
}

// WakeWaiters tells every parked fetch on this partition to look again
// (after a change; before the log is closed or deleted). The caller may
// hold the partition's locks: the fetches look on their own goroutines.
func (p *Partition) WakeWaiters() { p.wakeWaiters(false) }

// RunWaiters is WakeWaiters for a caller holding no lock of this package
// (the produce handler, once every batch of its request is appended): the
// fetches may look, and answer, on the caller's goroutine, with no
// goroutine hand-off between an append and the answer that carries it.
func (p *Partition) RunWaiters() { p.wakeWaiters(true) }

// maxInlineWaiters is how many waiters wakeWaiters copies out of the set
// without allocating; more (many consumers of one partition) allocate.
const maxInlineWaiters = 8

func (p *Partition) wakeWaiters(inline bool) {
	var buf [maxInlineWaiters]*Waiter
	ws := buf[:0]
	p.wmu.Lock()
	for w := range p.waiters {
		ws = append(ws, w)
	}
	p.wmu.Unlock()
	for _, w := range ws {
		w.w.Wake(inline)
	}
}
