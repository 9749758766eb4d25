package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/echt-dev/echt/internal/store"
)

var errFull = errors.New("full")

// rule is a small seat rule: the same key on a device sharing an anchor
// gets its activation again; otherwise a new one while seats are left.
func rule(id string, anchors [][]byte, seats int, notAfter time.Time) store.DecideFunc {
	return func(k store.Key, cands []store.Activation) (store.Decision, error) {
		for _, c := range cands {
			if bytes.Equal(c.KeyHash, k.Hash) {
				return store.Decision{Existing: c.ID}, nil
			}
		}
		if k.ActiveActivations >= seats {
			return store.Decision{}, errFull
		}
		prior := ""
		if len(cands) > 0 {
			prior = cands[0].ID
		}
		return store.Decision{New: &store.Activation{ID: id, ProductID: "p", Anchors: anchors, PriorID: prior, CreatedAt: time.UnixMilli(int64(len(id))), NotAfter: notAfter}}, nil
	}
}

func TestDecideBatch(t *testing.T) {
	a, b, c := []byte("anchor-a"), []byte("anchor-b"), []byte("anchor-c")
	k1, k2 := []byte("key-1"), []byte("key-2")
	until := time.UnixMilli(5000).UTC()
	keys := map[string]store.BatchKey{
		string(k1): {Key: store.Key{Hash: k1, ActiveActivations: 3, Activations: 4}, ProductID: "p"},
		string(k2): {Key: store.Key{Hash: k2}, ProductID: "p"},
	}
	// Stored: an activation of k2 on device c, and one of another
	// product that shares anchor a (never a candidate here).
	hits := []store.AnchorHit{
		{ProductID: "p", Anchor: c, Activation: store.Activation{ID: "old", KeyHash: k2, ProductID: "p", Status: store.StatusActive}},
		{ProductID: "q", Anchor: a, Activation: store.Activation{ID: "other", KeyHash: k1, ProductID: "q", Status: store.StatusActive}},
	}
	ops := []*store.ActivateOp{
		{KeyHash: k1, Anchors: [][]byte{a}, Decide: rule("n1", [][]byte{a}, 5, until)},       // new: 4 of 5
		{KeyHash: k1, Anchors: [][]byte{b, a}, Decide: rule("n2", [][]byte{b}, 5, until)},    // same device as n1: n1 again
		{KeyHash: k1, Anchors: [][]byte{b}, Decide: rule("n3", [][]byte{b}, 5, until)},       // new: 5 of 5
		{KeyHash: k1, Anchors: [][]byte{[]byte("x")}, Decide: rule("n4", nil, 5, until)},     // full
		{KeyHash: []byte("nope"), Anchors: [][]byte{a}, Decide: rule("n5", nil, 5, until)},   // no such key
		{KeyHash: k2, Anchors: [][]byte{c}, Decide: rule("n6", [][]byte{c}, 5, time.Time{})}, // stored activation again
		{KeyHash: k2, Anchors: [][]byte{b}, Decide: rule("n7", [][]byte{b}, 5, until)},       // new, after n3 on the device
	}
	news, changed, _ := store.DecideBatch(ops, keys, hits)

	want := []struct {
		id      string
		created bool
		err     error
	}{{"n1", true, nil}, {"n1", false, nil}, {"n3", true, nil}, {"", false, errFull}, {"", false, store.ErrNotFound}, {"old", false, nil}, {"n7", true, nil}}
	for i, w := range want {
		op := ops[i]
		if op.Result.ID != w.id || op.Created != w.created || !errors.Is(op.Err, w.err) || (w.err == nil) != (op.Err == nil) {
			t.Errorf("op %d = %q created %v err %v; want %q %v %v", i, op.Result.ID, op.Created, op.Err, w.id, w.created, w.err)
		}
	}
	var ids []string
	for _, n := range news {
		ids = append(ids, n.ID)
		if n.Status != store.StatusActive || len(n.KeyHash) == 0 {
			t.Errorf("new %s: status %q key %q", n.ID, n.Status, n.KeyHash)
		}
	}
	if fmt.Sprint(ids) != "[n1 n3 n7]" {
		t.Errorf("new activations %v; want [n1 n3 n7]", ids)
	}
	if news[2].PriorID != "n3" {
		t.Errorf("n7 prior %q; want n3 (created earlier in the batch on the same device)", news[2].PriorID)
	}
	if len(changed) != 2 {
		t.Fatalf("changed keys %d; want 2", len(changed))
	}
	if k := changed[0]; !bytes.Equal(k.Hash, k1) || k.ActiveActivations != 5 || k.Activations != 6 || !k.NotAfter.Equal(until) {
		t.Errorf("key 1 = %+v; want 5 active, 6 in all, not after %v", k, until)
	}
	if k := changed[1]; !bytes.Equal(k.Hash, k2) || k.ActiveActivations != 1 || k.Activations != 1 || !k.NotAfter.Equal(until) {
		t.Errorf("key 2 = %+v; want 1 active, 1 in all", k)
	}
}
