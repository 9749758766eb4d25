// Package bufpool lends byte buffers for the bodies of the busiest
// requests and answers (online validation), so that each request does not
// allocate, zero and later collect a few kilobytes of short-lived memory.
//
// A buffer may be given back only once nothing refers to its bytes any
// more: not a slice, not a string made without copying, not a goroutine
// still reading it.
package bufpool

import "sync"

// MaxKept is the largest capacity given back to the pool: a rare large
// request body is left to the garbage collector rather than kept alive.
const MaxKept = 64 << 10

var pool = sync.Pool{New: func() any {
	b := make([]byte, 0, 4<<10)
	return &b
}}

// Get returns an empty buffer with some capacity.
func Get() *[]byte {
	b := pool.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

// Put gives b back for reuse. b is the pointer Get returned, updated to
// the grown slice if it grew; b may be nil.
func Put(b *[]byte) {
	if b == nil || cap(*b) > MaxKept {
		return
	}
	*b = (*b)[:0]
	pool.Put(b)
}
