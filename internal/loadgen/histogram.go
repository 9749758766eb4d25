package loadgen

import (
	"math"
	"time"
)

// Histogram records latencies in log-linear buckets of 1% width from 1µs
// to about 100 s: constant memory, quantiles accurate to 1%.
type Histogram struct {
	counts []int64
	total  int64
	max    time.Duration
}

const (
	histBase    = 1.01
	histBuckets = 1900
)

var logBase = math.Log(histBase)

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return &Histogram{counts: make([]int64, histBuckets)} }

func bucketOf(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	b := int(math.Log(us) / logBase)
	if b >= histBuckets {
		b = histBuckets - 1
	}
	return b
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.total++
	if d > h.max {
		h.max = d
	}
}

// RecordN adds n latencies of d.
func (h *Histogram) RecordN(d time.Duration, n int64) {
	h.counts[bucketOf(d)] += n
	h.total += n
	if d > h.max {
		h.max = d
	}
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	if o.max > h.max {
		h.max = o.max
	}
}

// Count is the number of recorded latencies.
func (h *Histogram) Count() int64 { return h.total }

// Max is the largest recorded latency.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the latency at quantile q (0..1): the upper edge of the
// bucket holding it, capped at the maximum.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.total)))
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			d := time.Duration(math.Pow(histBase, float64(i+1)) * float64(time.Microsecond))
			if d > h.max {
				d = h.max
			}
			return d
		}
	}
	return h.max
}
