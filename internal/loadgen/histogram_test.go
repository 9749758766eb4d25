package loadgen

import (
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.9, 9 * time.Millisecond}, {0.99, 9900 * time.Microsecond}, {1, 10 * time.Millisecond}} {
		got := h.Quantile(tt.q)
		if diff := float64(got-tt.want) / float64(tt.want); diff < -0.011 || diff > 0.011 {
			t.Errorf("Quantile(%v) = %v, want %v within 1%%", tt.q, got, tt.want)
		}
	}
	if h.Max() != 10*time.Millisecond || h.Count() != 10000 {
		t.Errorf("Max, Count = %v, %d", h.Max(), h.Count())
	}
	o := NewHistogram()
	o.Record(time.Second)
	h.Merge(o)
	if h.Quantile(1) != time.Second || h.Count() != 10001 {
		t.Errorf("after merge: max quantile %v, count %d", h.Quantile(1), h.Count())
	}
}
