package partition

// Waiter is a parked long-poll fetch. C is buffered (cap 1) and never
// closed; a partition sends to it without blocking.
type Waiter struct {
	C chan struct{}
}

// NewWaiter returns a waiter ready to Watch partitions with.
func NewWaiter() *Waiter { return &Waiter{C: make(chan struct{}, 1)} }

// Notify tells the waiter to look again, without blocking.
func (w *Waiter) Notify() {
	select {
	case w.C <- struct{}{}:
	default:
	}
}

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
// (after a change; before the log is closed or deleted).
func (p *Partition) WakeWaiters() {
	p.wmu.Lock()
	for w := range p.waiters {
		w.Notify()
	}
	p.wmu.Unlock()
}
