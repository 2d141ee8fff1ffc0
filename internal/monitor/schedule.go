package monitor

import (
	"container/heap"
	"time"
)

// dueHeap is a min-heap of members by the time their next check is due.
// The one scheduler goroutine pops from it; a finished check pushes its
// member back. Entries hold the due time beside the member, so that
// comparisons read one contiguous array rather than chase a pointer per
// member. Each member records its index so it can be removed or moved when
// the configuration changes. Guarded by Engine.mu.
type dueHeap []dueEntry

// dueEntry is a member and when its next check is due (a copy of m.next).
type dueEntry struct {
	at time.Time
	m  *member
}

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].m.idx = int32(i)
	h[j].m.idx = int32(j)
}

// Push implements heap.Interface; use heap.Push.
func (h *dueHeap) Push(x any) {
	m := x.(*member)
	m.idx = int32(len(*h))
	*h = append(*h, dueEntry{at: m.next, m: m})
}

// Pop implements heap.Interface; use heap.Pop.
func (h *dueHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = dueEntry{}
	e.m.idx = -1
	*h = old[:n-1]
	return e.m
}

// schedule queues m for time at, or moves it there if it is queued.
func (h *dueHeap) schedule(m *member, at time.Time) {
	m.next = at
	if m.idx >= 0 {
		(*h)[m.idx].at = at
		heap.Fix(h, int(m.idx))
		return
	}
	heap.Push(h, m)
}

// remove takes m out of the queue if it is there.
func (h *dueHeap) remove(m *member) {
	if m.idx >= 0 {
		heap.Remove(h, int(m.idx))
	}
}

// peek returns the member due first, or nil.
func (h dueHeap) peek() *member {
	if len(h) == 0 {
		return nil
	}
	return h[0].m
}

// firstCheckWindow is the most a member's first check waits: its jitter
// is uniform in [0, min(delay, firstCheckWindow)), so that 10,000 members
// configured together are spread over a second, not probed at once.
const firstCheckWindow = time.Second

// nextStart returns when a check that started at start and ended at end
// should be followed: start to start every delay, and, when a check
// overran, right after it ended, so that checks never overlap. The base is
// when the check actually started, not when it was due: a check that
// started late is not followed early to catch up, so an overloaded machine
// checks a little less often instead of bunching checks together, which
// would overload it further.
func nextStart(start, end time.Time, delay time.Duration) time.Time {
	next := start.Add(delay)
	if next.Before(end) {
		return end
	}
	return next
}
