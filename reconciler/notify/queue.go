package notify

import "sync"

// queue is a sink's bounded FIFO of events. push never blocks: when full it
// drops the oldest event and returns it. Safe for concurrent use.
type queue struct {
	mu    sync.Mutex
	items []Event
	max   int
	// ready has a token while items may be non-empty.
	ready chan struct{}
}

func newQueue(size int) *queue {
	return &queue{max: size, items: make([]Event, 0, size), ready: make(chan struct{}, 1)}
}

// push appends e; when the queue was full it drops the oldest event and
// returns it.
func (q *queue) push(e Event) (dropped *Event, n int) {
	q.mu.Lock()
	if len(q.items) >= q.max {
		old := q.items[0]
		dropped = &old
		q.items = append(q.items[:0], q.items[1:]...)
	}
	q.items = append(q.items, e)
	n = len(q.items)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return dropped, n
}

// pop removes and returns the oldest event, if any.
func (q *queue) pop() (Event, int, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return Event{}, 0, false
	}
	e := q.items[0]
	q.items = append(q.items[:0], q.items[1:]...)
	return e, len(q.items), true
}

// drain removes and returns every queued event.
func (q *queue) drain() []Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := append([]Event(nil), q.items...)
	q.items = q.items[:0]
	return out
}
