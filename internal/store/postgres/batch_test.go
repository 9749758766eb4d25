package postgres

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/internal/store/storetest"
)

func openTest(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{URL: url})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Two batches that lock in opposite orders deadlock; PostgreSQL aborts one,
// and the store runs it again instead of failing it.
func TestDeadlockRetried(t *testing.T) {
	url := storetest.PostgresURL(t)
	a, b := openTest(t, url), openTest(t, url)
	var ready sync.WaitGroup
	ready.Add(2)
	var runs atomic.Int32
	lockBoth := func(first, second int64) func(*wtx) error {
		var once sync.Once
		return func(t *wtx) error {
			runs.Add(1)
			if _, err := t.exec(`SELECT pg_advisory_xact_lock($1)`, first); err != nil {
				return err
			}
			once.Do(func() { ready.Done(); ready.Wait() }) // both hold their first lock
			_, err := t.exec(`SELECT pg_advisory_xact_lock($1)`, second)
			return err
		}
	}
	errs := make(chan error, 2)
	go func() { errs <- a.write(context.Background(), nil, lockBoth(1, 2)) }()
	go func() { errs <- b.write(context.Background(), nil, lockBoth(2, 1)) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("write = %v, want the deadlock retried", err)
		}
	}
	if n := runs.Load(); n < 3 {
		t.Errorf("ops ran %d times, want at least 3 (one retry)", n)
	}
}

// When the commit of a batch fails, every op of the batch fails, including
// those that succeeded on their own, and nothing is published.
func TestCommitFailureFailsBatch(t *testing.T) {
	s := openTest(t, storetest.PostgresURL(t))
	c := context.Background()
	if _, err := s.pool.Exec(c, `CREATE TABLE deferred (v INTEGER UNIQUE DEFERRABLE INITIALLY DEFERRED)`); err != nil {
		t.Fatal(err)
	}
	insert := func(t *wtx) error {
		_, err := t.exec(`INSERT INTO deferred (v) VALUES (1)`)
		return err
	}
	errOwn := errors.New("own")
	batch := []*op{
		{fn: insert},
		{fn: func(t *wtx) error { t.audit(store.AuditEntry{Actor: "a", Action: "x"}); return nil }},
		{fn: func(*wtx) error { return errOwn }},
		{fn: insert}, // violates the deferred constraint: only the commit fails
	}
	for _, o := range batch {
		o.done = make(chan struct{})
	}
	s.run(batch)
	for i, o := range batch {
		want := store.ErrExists
		if i == 2 {
			want = errOwn
		}
		if !errors.Is(o.err, want) {
			t.Errorf("op %d: err = %v, want %v", i, o.err, want)
		}
	}
	var n int
	if err := s.pool.QueryRow(c, `SELECT count(*) FROM deferred`).Scan(&n); err != nil || n != 0 {
		t.Errorf("rows after failed commit = %d, %v; want 0", n, err)
	}
	if got, err := s.Audit(c, store.AuditQuery{}); err != nil || len(got) != 0 {
		t.Errorf("audit after failed commit = %v, %v; want none", got, err)
	}
}
