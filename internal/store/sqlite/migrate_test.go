package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/internal/store/storetest"
)

// TestAnchorsMigration upgrades a database from before activations kept
// their anchors in their row (migration 7): an activation stored then reads
// back with its anchors, by id and by anchor.
func TestAnchorsMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "echt.db")
	db, err := sql.Open("sqlite", dsn(path, writer))
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, mustSub(migrations, "migrations"))
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
		{`INSERT INTO products (id, name, hardware_salt, created_at) VALUES ('p', 'P', x'00', 1)`, nil},
		{`INSERT INTO skus (id, product_id, edition, channel, policy, key_group, created_at) VALUES ('s', 'p', 'e', 'retail', '{}', 1, 1)`, nil},
		{`INSERT INTO product_keys (hash, sku_id, last_group, created_at, active_activations, activations) VALUES (x'01', 's', 'BCDFG', 1, 2, 2)`, nil},
		{`INSERT INTO activations (id, key_hash, sku_id, product_id, last_group, profile, status, created_at) VALUES ('act_a', x'01', 's', 'p', 'BCDFG', x'7b7d', 'active', 1), ('act_b', x'01', 's', 'p', 'BCDFG', x'7b7d', 'active', 2)`, nil},
		{`INSERT INTO activation_anchors (product_id, anchor, activation_id) VALUES ('p', ?, 'act_a'), ('p', ?, 'act_a')`, []any{a1, a2}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	db.Close()

	s, err := Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckMigratedAnchors(t, s, [][]byte{a1, a2})
}

// A database migrated by a newer echt is refused: this build would write
// rows that version does not expect.
func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "echt.db")
	s, err := Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(path, writer))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (999, 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := Open(ctx, Config{Path: path}); !errors.Is(err, store.ErrSchemaNewer) || !strings.Contains(err.Error(), "999") {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open on a newer schema = %v; want ErrSchemaNewer naming version 999", err)
	}
}
