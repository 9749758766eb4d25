package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/echt-dev/echt/internal/store"
)

// listenIdle is how long Watch waits for a notification before it pings its
// connection, and listenPing how long that ping may take, so that a
// connection that hangs (a network path that drops packets, no reset) is
// noticed within a few seconds: until then the node's caches may answer
// from data another node has changed. A ping is one round trip. A false
// alarm is not free (every cache is emptied and the keyring reloaded), so
// the ping gets far longer than a healthy database needs.
const (
	listenIdle = 500 * time.Millisecond
	listenPing = 2 * time.Second
)

// Watch implements store.Store with LISTEN on a dedicated connection. It
// reports ChangeWatchDown first and whenever the connection is lost, while
// it reconnects (with backoff, for as long as it takes), and ChangeWatchUp
// once it listens; after a loss, ChangeAll comes first: notifications sent
// meanwhile are lost, so every cache must be dropped. fn runs on the
// calling goroutine. Watch returns ctx.Err() when ctx ends and
// store.ErrClosed when the store closes.
func (s *Store) Watch(ctx context.Context, fn func(store.Change)) error {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	missed := false // whether changes may have gone unreported
	backoff := 100 * time.Millisecond
	fn(store.Change{Kind: store.ChangeWatchDown})
	for {
		listening := s.listen(ctx, fn, missed)
		if ctx.Err() != nil {
			// Closing, not an outage: nothing to report.
			if parent.Err() != nil {
				return parent.Err()
			}
			return store.ErrClosed
		}
		missed = true
		if listening {
			fn(store.Change{Kind: store.ChangeWatchDown})
			backoff = 100 * time.Millisecond
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			continue // reported at the top of the loop
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listen connects, listens and calls fn for every notification until the
// connection fails or ctx ends. It reports whether it got to listen; why
// the connection failed does not matter to Watch, which tries again.
func (s *Store) listen(ctx context.Context, fn func(store.Change), missed bool) bool {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return false
	}
	defer closeConn(conn)
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return false
	}
	if missed {
		fn(store.Change{Kind: store.ChangeAll})
	}
	fn(store.Change{Kind: store.ChangeWatchUp})
	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdle)
		n, err := conn.WaitForNotification(wctx)
		idle := errors.Is(wctx.Err(), context.DeadlineExceeded)
		cancel()
		switch {
		case err == nil:
			fn(parseChange(n.Payload))
		case ctx.Err() != nil:
			return true
		case idle:
			pctx, cancel := context.WithTimeout(ctx, listenPing)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return true
			}
		default:
			return true
		}
	}
}

func parseChange(payload string) store.Change {
	kind, id, _ := strings.Cut(payload, ":")
	return store.Change{Kind: kind, ID: id}
}
