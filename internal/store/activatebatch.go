package store

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ActivateOp is one Activate call decided together with others in one
// transaction (DecideBatch). A store reads every key and candidate of the
// batch with a few statements, decides the requests one after another in
// memory, and writes all new activations with a few more: the statements per
// activation, not the rows, are what a batch saves.
type ActivateOp struct {
	KeyHash []byte
	Anchors [][]byte
	Decide  DecideFunc

	// Outcome, set by DecideBatch.
	Result  Activation
	Created bool
	Err     error
	// Released is the activation the new one took the place of
	// (Decision.Release), or "".
	Released string
}

// BatchKey is a key row read (and locked) for a batch, with its product.
type BatchKey struct {
	Key       Key
	ProductID string
}

// AnchorHit is a stored active activation found by one of its indexed
// anchors.
type AnchorHit struct {
	ProductID  string
	Anchor     []byte
	Activation Activation
}

// DecideBatch decides ops in order, each as if it ran alone after the ones
// before it: it sees the key rows as the earlier ops left them, and the
// activations they created among its candidates. keys holds the batch's key
// rows by string(hash) (a missing key fails its op with ErrNotFound); hits
// are the stored active activations sharing an anchor with any op of the
// same product. It returns the activations to insert and the key rows they
// changed, with their new counters.
func DecideBatch(ops []*ActivateOp, keys map[string]BatchKey, hits []AnchorHit) (news []Activation, changed []Key, released []Release) {
	byAnchor := map[string][]Activation{}
	index := func(product string, anchor []byte) string { return product + "\x00" + string(anchor) }
	for _, h := range hits {
		k := index(h.ProductID, h.Anchor)
		byAnchor[k] = append(byAnchor[k], h.Activation)
	}
	touched := map[string]bool{}
	gone := map[string]bool{} // released by an earlier op of the batch
	var order []string
	for _, op := range ops {
		op.Result, op.Created, op.Err, op.Released = Activation{}, false, nil, ""
		hk := string(op.KeyHash)
		bk, ok := keys[hk]
		if !ok {
			op.Err = fmt.Errorf("activate: key: %w", ErrNotFound)
			continue
		}
		var cands []Activation
		for _, a := range op.Anchors {
			for _, c := range byAnchor[index(bk.ProductID, a)] {
				if !gone[c.ID] {
					cands = append(cands, c)
				}
			}
		}
		if len(cands) > 1 {
			slices.SortFunc(cands, func(a, b Activation) int {
				if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
					return c
				}
				return strings.Compare(a.ID, b.ID)
			})
			cands = slices.CompactFunc(cands, func(a, b Activation) bool { return a.ID == b.ID })
		}
		d, err := op.Decide(bk.Key, cands)
		switch {
		case err != nil:
			op.Err = err
		case d.Existing != "":
			i := slices.IndexFunc(cands, func(c Activation) bool { return c.ID == d.Existing })
			if i < 0 {
				op.Err = fmt.Errorf("activate: decision names unknown activation %s", d.Existing)
				continue
			}
			op.Result = cands[i]
		case d.New == nil:
			op.Err = fmt.Errorf("activate: empty decision")
		default:
			n := *d.New
			if d.Release != "" {
				// Only a stored active activation of this key: its seat is
				// the one the new activation takes.
				i := slices.IndexFunc(cands, func(c Activation) bool { return c.ID == d.Release })
				made := slices.ContainsFunc(news, func(a Activation) bool { return a.ID == d.Release })
				if i < 0 || made || !bytes.Equal(cands[i].KeyHash, op.KeyHash) {
					op.Err = fmt.Errorf("activate: decision releases %s, not a stored active activation of this key", d.Release)
					continue
				}
				gone[d.Release] = true
				released = append(released, Release{ID: d.Release, At: n.CreatedAt})
				op.Released = d.Release
				bk.Key.ActiveActivations--
			}
			n.KeyHash, n.Status = bytes.Clone(op.KeyHash), StatusActive
			op.Result, op.Created = n, true
			news = append(news, n)
			bk.Key.ActiveActivations++
			bk.Key.Activations++
			if bk.Key.NotAfter.IsZero() {
				bk.Key.NotAfter = n.NotAfter
			}
			keys[hk] = bk
			if !touched[hk] {
				touched[hk] = true
				order = append(order, hk)
			}
			for _, a := range n.Anchors {
				k := index(n.ProductID, a)
				byAnchor[k] = append(byAnchor[k], n)
			}
		}
	}
	for _, hk := range order {
		changed = append(changed, keys[hk].Key)
	}
	return news, changed, released
}

// Release is an activation DecideBatch ends (Decision.Release): the store
// sets it deactivated with EndReasonHardwareChanged at At.
type Release struct {
	ID string
	At time.Time
}
