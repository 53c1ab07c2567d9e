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

// AppendCount is how many appends the partition has taken: a fetch reads
// it before it looks at the log, and compares it with what Watch returns.
func (p *Partition) AppendCount() uint64 { return p.appends.Load() }

// Watch registers w to be notified of every later append and returns the
// append count at registration: if it differs from the AppendCount read
// before the fetch's last look, data may have arrived unseen and the
// fetch must look again.
func (p *Partition) Watch(w *Waiter) uint64 {
	p.wmu.Lock()
	p.waiters[w] = struct{}{}
	p.wmu.Unlock()
	return p.appends.Load()
}

// Unwatch removes w.
func (p *Partition) Unwatch(w *Waiter) {
	p.wmu.Lock()
	delete(p.waiters, w)
	p.wmu.Unlock()
}

// WakeWaiters tells every parked fetch on this partition to look again
// (after an append; before the log is closed or deleted).
func (p *Partition) WakeWaiters() {
	p.wmu.Lock()
	for w := range p.waiters {
		w.Notify()
	}
	p.wmu.Unlock()
}
