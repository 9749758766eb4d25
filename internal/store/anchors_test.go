package store

import (
	"bytes"
	"slices"
	"testing"
)

func TestPackAnchors(t *testing.T) {
	a, b, c := []byte{2, 9}, []byte{1, 0, 0}, bytes.Repeat([]byte{7}, MaxAnchorLen)
	packed, err := PackAnchors([][]byte{a, c, b, a})
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]byte{3}, b...), append([]byte{2}, a...)...), append([]byte{MaxAnchorLen}, c...)...)
	if !bytes.Equal(packed, want) {
		t.Fatalf("packed %x, want %x (sorted, length-prefixed)", packed, want)
	}
	got, err := UnpackAnchors(packed)
	if err != nil || !slices.EqualFunc(got, [][]byte{b, a, c}, bytes.Equal) {
		t.Fatalf("unpack: %x, %v", got, err)
	}
	if p, err := PackAnchors(nil); err != nil || len(p) != 0 {
		t.Fatalf("no anchors: %x, %v", p, err)
	}
	if got, err := UnpackAnchors(nil); err != nil || got != nil {
		t.Fatalf("unpack empty: %x, %v", got, err)
	}
	for _, bad := range [][]byte{{}, bytes.Repeat([]byte{1}, MaxAnchorLen+1)} {
		if _, err := PackAnchors([][]byte{a, bad}); err == nil {
			t.Errorf("anchor of %d bytes packed", len(bad))
		}
	}
	for _, bad := range [][]byte{{0}, {3, 1, 2}, append(bytes.Clone(packed), 5)} {
		if _, err := UnpackAnchors(bad); err == nil {
			t.Errorf("unpacked %x", bad)
		}
	}
}
