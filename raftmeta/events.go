package raftmeta

import (
	"slices"
	"sync"
)

// EventKind says what changed.
type EventKind uint8

const (
	// EventReset: the image was replaced wholesale (snapshot recovery) or the
	// subscriber fell more than its buffer behind and events were dropped.
	// Re-read the whole image.
	EventReset EventKind = iota + 1
	// EventBroker: a broker registered, was fenced or unfenced (BrokerID).
	EventBroker
	// EventHeartbeat: a heartbeat of BrokerID was applied (no state change).
	EventHeartbeat
	// EventTopicCreated: Topic/TopicID created; its partitions follow as
	// EventPartition events.
	EventTopicCreated
	// EventTopicDeleted: Topic/TopicID deleted.
	EventTopicDeleted
	// EventTopicConfigs: Topic's config overrides changed.
	EventTopicConfigs
	// EventPartition: a partition was created or its leader, ISR or
	// replicas changed; Leader, LeaderEpoch, ISR and Replicas are the new
	// values.
	EventPartition
)

// Event is one change, in log order.
type Event struct {
	Kind        EventKind
	Index       uint64 // Raft index of the entry that made the change
	BrokerID    int32
	Topic       string
	TopicID     [16]byte
	Partition   int32
	Leader      int32
	LeaderEpoch int32
	ISR         []int32 // shared with the image: do not modify
	Replicas    []int32 // shared with the image: do not modify
}

func partitionEvent(index uint64, t *Topic, i int32) Event {
	p := t.Partitions[i]
	return Event{Kind: EventPartition, Index: index, Topic: t.Name, TopicID: t.ID, Partition: i,
		Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, ISR: p.ISR, Replicas: p.Replicas}
}

// Subscription receives events. The state machine never blocks on it: a
// subscription holds at most its limit of undelivered events, and when it
// would overflow it drops them all and reports a reset instead, after which
// the subscriber re-reads the image.
type Subscription struct {
	limit int
	ready chan struct{} // cap 1: "events are pending"

	mu     sync.Mutex
	queue  []Event
	reset  bool
	closed bool
}

func newSubscription(limit int) *Subscription {
	return &Subscription{limit: max(limit, 1), ready: make(chan struct{}, 1)}
}

// Ready receives a value when Drain has something to return.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Drain returns the pending events in order. When reset is true events were
// dropped (or the image was replaced) and the caller must rebuild its view
// from the current image; evs then holds only events after the drop.
func (s *Subscription) Drain() (evs []Event, reset bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs, reset = s.queue, s.reset
	s.queue, s.reset = nil, false
	return evs, reset
}

// push is called by the state machine's apply goroutine.
func (s *Subscription) push(evs []Event, reset bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if reset || len(s.queue)+len(evs) > s.limit {
		s.queue, s.reset = nil, true
		if !reset && len(evs) <= s.limit {
			s.queue = append(s.queue, evs...)
		}
	} else {
		s.queue = append(s.queue, evs...)
	}
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// hub fans events out to subscriptions.
type hub struct {
	mu   sync.Mutex
	subs []*Subscription
}

func (h *hub) subscribe(limit int) *Subscription {
	s := newSubscription(limit)
	h.mu.Lock()
	h.subs = append(h.subs, s)
	h.mu.Unlock()
	return s
}

func (h *hub) unsubscribe(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, x := range h.subs {
		if x == s {
			h.subs = slices.Concat(h.subs[:i:i], h.subs[i+1:]) // new array: publish may hold the old one
			break
		}
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

func (h *hub) publish(evs []Event, reset bool) {
	if len(evs) == 0 && !reset {
		return
	}
	h.mu.Lock()
	subs := h.subs
	h.mu.Unlock()
	for _, s := range subs {
		s.push(evs, reset)
	}
}
