package signing

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"sync"
)

// Batch signing. Under load, envelopes signed at about the same moment
// share one Ed25519 signature: the signer builds a Merkle tree over their
// messages and signs its root; each envelope carries its inclusion path.
// Verifying costs one signature check plus a few hashes, as before, and a
// batch of one is an ordinary signature. Leaves and nodes are hashed with
// distinct prefixes, and the leaf hashes the domain-separated message, so
// a path cannot turn an inner node into a document or one type into
// another.

// BatchProof places an envelope in a signed batch.
type BatchProof struct {
	Index int      `json:"index"`
	Path  [][]byte `json:"path"`
}

const maxBatchDepth = 16

var padLeaf = sha256.Sum256([]byte{2})

// leafHash hashes the leaf of an envelope of type typ over payload: its
// message (message(typ, payload)), fed to the hash without being built.
func leafHash(typ string, payload []byte) [32]byte {
	var prefix [64]byte
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(appendMessagePrefix(prefix[:0], typ))
	h.Write(payload)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func nodeHash(l, r []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(l)
	h.Write(r)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func batchMessage(root []byte) []byte {
	return append([]byte("echt/batch/1\n"), root...)
}

// rootOf folds an inclusion path.
func rootOf(leaf [32]byte, p *BatchProof) ([]byte, error) {
	if len(p.Path) > maxBatchDepth || p.Index < 0 || p.Index >= 1<<len(p.Path) {
		return nil, fmt.Errorf("%w: batch proof", ErrMalformed)
	}
	h := leaf
	for i, sib := range p.Path {
		if len(sib) != 32 {
			return nil, fmt.Errorf("%w: batch proof", ErrMalformed)
		}
		if p.Index>>i&1 == 0 {
			h = nodeHash(h[:], sib)
		} else {
			h = nodeHash(sib, h[:])
		}
	}
	return h[:], nil
}

// signBatch signs several messages of type typ with one signature.
func (s *Signer) signBatch(typ string, payloads [][]byte) []*Envelope {
	n := len(payloads)
	size := 1
	depth := 0
	for size < n {
		size <<= 1
		depth++
	}
	levels := make([][][32]byte, depth+1)
	levels[0] = make([][32]byte, size)
	for i := range size {
		if i < n {
			levels[0][i] = leafHash(typ, payloads[i])
		} else {
			levels[0][i] = padLeaf
		}
	}
	for d := 1; d <= depth; d++ {
		prev := levels[d-1]
		levels[d] = make([][32]byte, len(prev)/2)
		for i := range levels[d] {
			levels[d][i] = nodeHash(prev[2*i][:], prev[2*i+1][:])
		}
	}
	root := levels[depth][0]
	sig := ed25519.Sign(s.priv, batchMessage(root[:]))
	// Every envelope, proof and proof path of the batch in a few
	// allocations rather than a few per envelope.
	out := make([]*Envelope, n)
	envs := make([]Envelope, n)
	proofs := make([]BatchProof, n)
	paths := make([][]byte, n*depth)
	hashes := make([]byte, n*depth*32)
	for i := range n {
		p := &proofs[i]
		p.Index, p.Path = i, paths[i*depth:(i+1)*depth:(i+1)*depth]
		idx := i
		for d := 0; d < depth; d++ {
			h := hashes[(i*depth+d)*32 : (i*depth+d+1)*32 : (i*depth+d+1)*32]
			sib := levels[d][idx^1]
			copy(h, sib[:])
			p.Path[d] = h
			idx >>= 1
		}
		envs[i] = Envelope{Type: typ, KeyID: s.kid, Payload: payloads[i], Signature: sig, Cert: s.cert, Batch: p, certJSON: s.certJSON}
		out[i] = &envs[i]
	}
	return out
}

// BatchSigner signs envelopes in batches of whatever is waiting: with no
// contention every envelope gets its own signature at no added latency;
// under load, one signature serves many envelopes.
type BatchSigner struct {
	signer   func() *Signer
	reqs     chan *batchReq
	maxBatch int
	stop     chan struct{}
	wg       sync.WaitGroup
}

type batchReq struct {
	kid     string
	err     error
	typ     string
	payload []byte
	env     *Envelope
	done    chan struct{}
}

// ErrStopped is returned by Sign after Close.
var ErrStopped = errors.New("batch signer stopped")

// NewBatchSigner starts a batch signer using the signer current returns
// at each batch (so key rotation applies at once).
func NewBatchSigner(current func() *Signer, workers int) *BatchSigner {
	if workers <= 0 {
		workers = 2
	}
	b := &BatchSigner{signer: current, reqs: make(chan *batchReq, 4096), maxBatch: 1 << 8, stop: make(chan struct{})}
	for range workers {
		b.wg.Add(1)
		go b.loop()
	}
	return b
}

// Close stops the workers.
func (b *BatchSigner) Close() {
	close(b.stop)
	b.wg.Wait()
}

// ErrKeyRotated means the payload names a signing key that is no longer
// current: rebuild it with CurrentKeyID and sign again.
var ErrKeyRotated = errors.New("signing key rotated")

// CurrentKeyID is the id of the key the next batch will be signed with.
func (b *BatchSigner) CurrentKeyID() string { return b.signer().KeyID() }

// Sign returns an envelope of type typ over payload.
func (b *BatchSigner) Sign(ctx context.Context, typ string, payload []byte) (*Envelope, error) {
	return b.SignAs(ctx, "", typ, payload)
}

// SignAs is Sign for a payload that names its signing key: it fails with
// ErrKeyRotated unless kid is the key that signs (empty kid: any key).
func (b *BatchSigner) SignAs(ctx context.Context, kid, typ string, payload []byte) (*Envelope, error) {
	r := &batchReq{kid: kid, typ: typ, payload: payload, done: make(chan struct{})}
	select {
	case b.reqs <- r:
	case <-b.stop:
		return nil, ErrStopped
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	<-r.done
	return r.env, r.err
}

func (b *BatchSigner) loop() {
	defer b.wg.Done()
	batch := make([]*batchReq, 0, b.maxBatch)
	for {
		var first *batchReq
		select {
		case first = <-b.reqs:
		case <-b.stop:
			return
		}
		batch = append(batch[:0], first)
		// Let the goroutines that are about to ask run first: under load a
		// few more requests join this batch, at the cost of a scheduler
		// round (microseconds), not a timer.
		for round := 0; round < 3 && len(batch) < b.maxBatch; round++ {
			runtime.Gosched()
			n := len(batch)
		drain:
			for len(batch) < b.maxBatch {
				select {
				case r := <-b.reqs:
					batch = append(batch, r)
				default:
					break drain
				}
			}
			if len(batch) == n {
				break
			}
		}
		s := b.signer()
		// Group by type: one tree per type keeps proofs simple.
		byType := map[string][]*batchReq{}
		for _, r := range batch {
			if r.kid != "" && r.kid != s.KeyID() {
				r.err = ErrKeyRotated
				close(r.done)
				continue
			}
			byType[r.typ] = append(byType[r.typ], r)
		}
		for typ, rs := range byType {
			if len(rs) == 1 {
				rs[0].env = s.Sign(typ, rs[0].payload)
				close(rs[0].done)
				continue
			}
			payloads := make([][]byte, len(rs))
			for i, r := range rs {
				payloads[i] = r.payload
			}
			envs := s.signBatch(typ, payloads)
			for i, r := range rs {
				r.env = envs[i]
				close(r.done)
			}
		}
	}
}
