package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// MaxAnchorLen is the longest anchor a store keeps (hardware anchors are
// 17 bytes: a kind and a 16-byte hash).
const MaxAnchorLen = 255

// PackAnchors encodes an activation's anchors for its row: each distinct
// anchor as one length byte and its bytes, in ascending byte order, so
// that equal sets pack equally (as the anchor table holds them). The stores keep this beside the anchor index, so that
// reading an activation needs no second look-up and writing one no second
// index entry per anchor. Both stores and `echt admin db copy` share it;
// the migrations that introduced it build the same bytes in SQL.
func PackAnchors(anchors [][]byte) ([]byte, error) {
	sorted := slices.CompactFunc(slices.SortedFunc(slices.Values(anchors), bytes.Compare), bytes.Equal)
	n := 0
	for _, a := range sorted {
		if len(a) == 0 || len(a) > MaxAnchorLen {
			return nil, fmt.Errorf("anchor of %d bytes: want 1 to %d", len(a), MaxAnchorLen)
		}
		n += 1 + len(a)
	}
	out := make([]byte, 0, n)
	for _, a := range sorted {
		out = append(out, byte(len(a)))
		out = append(out, a...)
	}
	return out, nil
}

// UnpackAnchors decodes what PackAnchors made; nil for no anchors.
func UnpackAnchors(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		n := int(b[0])
		if n == 0 || len(b) < 1+n {
			return nil, errors.New("anchors: truncated or empty entry")
		}
		out = append(out, bytes.Clone(b[1:1+n]))
		b = b[1+n:]
	}
	return out, nil
}
