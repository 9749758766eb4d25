package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/internal/store/storetest"
)

// TestAnchorsMigration upgrades a database from before activations kept
// their anchors in their row (migration 7): an activation stored then reads
// back with its anchors, by id and by anchor.
func TestAnchorsMigration(t *testing.T) {
	ctx := context.Background()
	url := storetest.PostgresURL(t)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithLogger(goose.NopLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 6); err != nil {
		t.Fatal(err)
	}
	a1, a2 := append([]byte{4}, bytes.Repeat([]byte{0xff}, 16)...), append([]byte{1}, bytes.Repeat([]byte{0}, 16)...)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO products (id, name, hardware_salt, created_at) VALUES ('p', 'P', '\x00', 1)`, nil},
		{`INSERT INTO skus (id, product_id, edition, channel, policy, key_group, created_at) VALUES ('s', 'p', 'e', 'retail', '{}', 1, 1)`, nil},
		{`INSERT INTO product_keys (hash, sku_id, last_group, created_at, active_activations, activations) VALUES ('\x01', 's', 'BCDFG', 1, 2, 2)`, nil},
		{`INSERT INTO activations (id, key_hash, sku_id, product_id, last_group, profile, status, created_at) VALUES ('act_a', '\x01', 's', 'p', 'BCDFG', '\x7b7d', 'active', 1), ('act_b', '\x01', 's', 'p', 'BCDFG', '\x7b7d', 'active', 2)`, nil},
		{`INSERT INTO activation_anchors (product_id, anchor, activation_id) VALUES ('p', $1, 'act_a'), ('p', $2, 'act_a')`, []any{a1, a2}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	db.Close()

	s := openTest(t, url)
	storetest.CheckMigratedAnchors(t, s, [][]byte{a1, a2})
}

// A database migrated by a newer echt is refused: this build would write
// rows that version does not expect.
func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	url := storetest.PostgresURL(t)
	s, err := Open(ctx, Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (999, true)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, Config{URL: url}); !errors.Is(err, store.ErrSchemaNewer) || !strings.Contains(err.Error(), "999") {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open on a newer schema = %v; want ErrSchemaNewer naming version 999", err)
	}
}

// A node waiting for the migration lock says who holds it, and goes on
// once it is released.
func TestMigrationLockWaitNamesTheHolder(t *testing.T) {
	ctx := context.Background()
	url := storetest.PostgresURL(t)
	holder, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	var pid int
	if err := holder.QueryRow(ctx, `SELECT pg_backend_pid() FROM (SELECT pg_advisory_lock($1)) l`, lockMigrate).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		s, err := Open(ctx, Config{URL: url, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	want := fmt.Sprintf("pid %d", pid)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("no log naming the lock's holder (%s):\n%s", want, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Open finished while another session held the migration lock: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_unlock($1)`, lockMigrate); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Open after the lock was released: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Open still waiting 10 s after the lock was released")
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
