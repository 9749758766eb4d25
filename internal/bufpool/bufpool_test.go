package bufpool

import "testing"

func TestGetPut(t *testing.T) {
	Put(nil) // allowed
	for range 100 {
		b := Get()
		if len(*b) != 0 || cap(*b) == 0 {
			t.Fatalf("Get = len %d cap %d; want an empty buffer with room", len(*b), cap(*b))
		}
		*b = append(*b, "stale"...)
		Put(b)
	}
	big := make([]byte, 10, MaxKept+1)
	Put(&big)
	if len(big) != 10 {
		t.Error("Put changed a buffer it does not keep")
	}
}
