package storecopy

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/internal/store/postgres"
	"github.com/echt-dev/echt/internal/store/sqlite"
	"github.com/echt-dev/echt/internal/store/storetest"
)

func rnd(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func audit(action string) store.AuditEntry {
	return store.AuditEntry{At: time.Now(), Actor: "tok_admin", Action: action, Detail: `{"note":"grüße, 日本"}`, RequestID: "req-1"}
}

// installation is a SQLite installation made for a copy test.
type installation struct {
	path string
	keys []store.Key
}

// makeInstallation fills a new SQLite database with every kind of record
// through the store, and with n activations (two anchors each) in bulk.
func makeInstallation(t *testing.T, n int) installation {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	s, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	if _, err := s.Bootstrap(ctx, store.Bootstrap{
		Secrets:     map[string][]byte{"product-key-secret": rnd(60), "other": rnd(44)},
		SigningKeys: []store.SigningKey{{ID: "root-1", Role: store.RoleRoot, PublicKey: rnd(32), PrivateKey: rnd(72), CreatedAt: now}, {ID: "sig-1", Role: store.RoleSigning, PublicKey: rnd(32), PrivateKey: rnd(72), Certificate: rnd(200), CreatedAt: now}},
		Token:       store.Token{ID: "tok_admin", Hash: rnd(32), Role: "admin", Description: "bootstrap", CreatedAt: now},
		Audit:       audit("bootstrap"),
	}); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.RotateSigningKey(ctx, store.SigningKey{ID: "sig-2", Role: store.RoleSigning, PublicKey: rnd(32), PrivateKey: rnd(72), Certificate: rnd(200), CreatedAt: now.Add(time.Second)}, audit("keyring.rotate")))
	must(s.CreateToken(ctx, store.Token{ID: "tok_support", Hash: rnd(32), Role: "support", CreatedAt: now}, audit("token.create")))
	_, err = s.RevokeToken(ctx, "tok_support", now.Add(time.Minute), audit("token.revoke"))
	must(err)
	var skus []store.SKU
	for _, p := range []string{"photoedit", "Zeta-app", "ämber"} { // text keys in byte order differ from other collations
		must(s.CreateProduct(ctx, store.Product{ID: p, Name: "Product " + p, HardwareSalt: rnd(16), CreatedAt: now}, audit("product.create")))
		sku, err := s.CreateSKU(ctx, store.SKU{ID: p + "-pro", ProductID: p, Edition: "Pro", Channel: "volume-mak", Policy: store.Policy{MaxDevices: 1000, Tolerance: 4}, Entitlements: []string{"pro", "cloud"}, CreatedAt: now}, audit("sku.create"))
		must(err)
		skus = append(skus, sku)
	}
	_, err = s.ReserveSerials(ctx, skus[0].ID, 1000, 1<<30)
	must(err)
	keys := make([]store.Key, 1000)
	for i := range keys {
		keys[i] = store.Key{Hash: rnd(32), SKUID: skus[i%len(skus)].ID, LastGroup: "7FQ2K", CreatedAt: now}
	}
	must(s.InsertKeys(ctx, keys, audit("keys.generate")))
	_, err = s.SetKeyBlocked(ctx, keys[7].Hash, true, "counterfeit", now, audit("key.block"))
	must(err)
	for i := range 5 {
		must(s.RecordFeedback(ctx, "/help/reasons/KEY_BLOCKED", []string{"en", "nl"}[i%2], i%3 == 0))
	}
	// Activations through the store: with anchors, ended, and a repair.
	for i, k := range keys[:3] {
		id := fmt.Sprintf("act_store_%d", i)
		_, _, err := s.Activate(ctx, k.Hash, [][]byte{rnd(17)}, func(store.Key, []store.Activation) (store.Decision, error) {
			return store.Decision{New: &store.Activation{ID: id, SKUID: k.SKUID, ProductID: "photoedit", LastGroup: "7FQ2K", Profile: []byte(`{"system_uuid":"x"}`), Anchors: [][]byte{rnd(17), rnd(17)}, CreatedAt: now, NotAfter: now.Add(time.Hour), PriorID: "act_prior"}}, nil
		})
		must(err)
	}
	_, err = s.EndActivation(ctx, "act_store_1", store.StatusRevoked, "refund", now, nil, nil)
	must(err)
	must(s.Close())

	// The bulk: n activations spread over the keys and SKUs, made by SQLite
	// itself in one transaction (fast, also under the race detector).
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	must(err)
	// Rows go in index order where they can (keys by hash, ascending
	// anchors): B-tree appends, cheap also under the race detector.
	_, err = tx.Exec(`CREATE TEMP TABLE k AS SELECT row_number() OVER (ORDER BY hash) - 1 AS i, hash, sku_id, s.product_id
		FROM product_keys JOIN skus s ON s.id = sku_id`)
	must(err)
	_, err = tx.Exec(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1)
		INSERT INTO activations (id, key_hash, sku_id, product_id, last_group, profile, status, created_at, not_after, ended_at, end_reason)
		SELECT printf('act_%07d', n.i), k.hash, k.sku_id, k.product_id, '7FQ2K', CAST(printf('{"system_uuid":"%032x"}', n.i) AS BLOB),
			iif(n.i % 10 = 0, 'deactivated', 'active'), ?2 + n.i, iif(n.i % 4 = 0, ?2 + 86400000 + n.i, 0),
			iif(n.i % 10 = 0, ?2, 0), iif(n.i % 10 = 0, 'user', '')
		FROM n JOIN temp.k k ON k.i = n.i * (SELECT count(*) FROM temp.k) / ?1`, n, now.UnixMilli())
	must(err)
	_, err = tx.Exec(`INSERT INTO activation_anchors (product_id, anchor, activation_id)
		SELECT product_id, unhex(printf('%034x', 2 * CAST(substr(id, 5) AS INTEGER) + j.j)), id
		FROM activations, (SELECT 0 AS j UNION ALL SELECT 1) AS j WHERE id GLOB 'act_[0-9]*'`)
	must(err)
	// Each row packs its anchors as store.PackAnchors does (17 bytes each, ascending).
	_, err = tx.Exec(`UPDATE activations SET anchors = unhex('11' || printf('%034x', 2 * CAST(substr(id, 5) AS INTEGER)) || '11' || printf('%034x', 2 * CAST(substr(id, 5) AS INTEGER) + 1))
		WHERE id GLOB 'act_[0-9]*'`)
	must(err)
	_, err = tx.Exec(`UPDATE product_keys SET
		active_activations = (SELECT count(*) FROM activations a WHERE a.key_hash = product_keys.hash AND a.status = 'active'),
		activations = (SELECT count(*) FROM activations a WHERE a.key_hash = product_keys.hash)`)
	must(err)
	must(tx.Commit())
	return installation{path: path, keys: keys}
}

func openSQLite(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPostgres(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sortAnchors orders an activation's anchors: stores need not keep them
// in any order.
func sortAnchors(a store.Activation) store.Activation {
	a.Anchors = slices.Clone(a.Anchors)
	slices.SortFunc(a.Anchors, bytes.Compare)
	return a
}

// A live installation with 100,000 activations is copied and verified;
// the PostgreSQL store then reads the same records as the SQLite store,
// and the audit log continues after the copied sequence numbers.
func TestCopy(t *testing.T) {
	const activations = 100_000
	target := storetest.PostgresURL(t)
	start := time.Now()
	inst := makeInstallation(t, activations)
	t.Logf("made an installation with %d activations in %v", activations, time.Since(start).Round(time.Millisecond))

	// The source stays live: a server keeps writing while it is copied.
	src := openSQLite(t, inst.path)
	ctx := context.Background()
	stop := make(chan struct{})
	var writes atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := src.AppendAudit(ctx, audit("live.write")); err != nil {
				t.Errorf("live write during the copy: %v", err)
				return
			}
			writes.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var progress []string
	rep, err := Copy(ctx, Config{Source: inst.path, Target: target, Progress: func(table string, rows int64) {
		progress = append(progress, table)
	}})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Copy = %v\n%+v", err, rep)
	}
	t.Logf("copied %d rows (%d activations) in %v while %d writes went to the source", rep.Rows, activations, rep.Duration.Round(time.Millisecond), writes.Load())
	if !rep.OK() || !rep.Committed || !slices.Equal(progress, Tables()) {
		t.Fatalf("report = %+v, progress %v", rep, progress)
	}
	counts := map[string]int64{}
	for _, tr := range rep.Tables {
		counts[tr.Table] = tr.TargetRows
		if tr.SourceSHA256 == "" || tr.SourceSHA256 != tr.TargetSHA256 {
			t.Errorf("table %s: checksums %s and %s", tr.Table, tr.SourceSHA256, tr.TargetSHA256)
		}
	}
	if counts["activations"] != activations+3 || counts["activation_anchors"] != 2*activations+6 || counts["product_keys"] != 1000 || counts["signing_keys"] != 3 || counts["audit_log"] < 10 {
		t.Fatalf("row counts = %v", counts)
	}

	// The PostgreSQL store reads what the SQLite store reads.
	dst := openPostgres(t, target)
	compare := func(what string, a, b any, errA, errB error) {
		t.Helper()
		// Printed, a nil and an empty byte slice are alike, as they are
		// to the stores' users.
		if errA != nil || errB != nil || fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", b) {
			t.Errorf("%s differs:\nsqlite:   %+v (%v)\npostgres: %+v (%v)", what, a, errA, b, errB)
		}
	}
	for _, k := range []store.Key{inst.keys[0], inst.keys[7], inst.keys[999]} {
		a, errA := src.Key(ctx, k.Hash)
		b, errB := dst.Key(ctx, k.Hash)
		compare("key", a, b, errA, errB)
	}
	for _, id := range []string{"act_0000000", "act_0000010", "act_0099999", "act_store_0", "act_store_1"} {
		a, errA := src.Activation(ctx, id)
		b, errB := dst.Activation(ctx, id)
		compare("activation "+id, sortAnchors(a), sortAnchors(b), errA, errB)
	}
	skA, errA := src.SigningKeys(ctx)
	skB, errB := dst.SigningKeys(ctx)
	compare("signing keys", skA, skB, errA, errB)
	tokA, errA := src.Tokens(ctx)
	tokB, errB := dst.Tokens(ctx)
	compare("tokens", tokA, tokB, errA, errB)
	skuA, errA := src.SKUs(ctx)
	skuB, errB := dst.SKUs(ctx)
	compare("skus", skuA, skuB, errA, errB)
	fA, errA := src.Feedback(ctx)
	fB, errB := dst.Feedback(ctx)
	compare("feedback", fA, fB, errA, errB)
	secA, errA := src.Secret(ctx, "product-key-secret")
	secB, errB := dst.Secret(ctx, "product-key-secret")
	compare("secret", secA, secB, errA, errB)
	auA, errA := src.Audit(ctx, store.AuditQuery{Limit: 10})
	auB, errB := dst.Audit(ctx, store.AuditQuery{Limit: 10})
	compare("audit", auA, auB, errA, errB)

	// The audit log continues after the last copied entry.
	if err := dst.AppendAudit(ctx, audit("after.copy")); err != nil {
		t.Fatal(err)
	}
	got, err := dst.Audit(ctx, store.AuditQuery{Action: "after.copy"})
	if err != nil || len(got) != 1 || got[0].Seq != rep.NextAuditSeq {
		t.Fatalf("audit entry after the copy = %+v, %v; want seq %d", got, err, rep.NextAuditSeq)
	}
	// The PostgreSQL store is initialised: a node starting on it joins.
	if ok, err := dst.Bootstrap(ctx, store.Bootstrap{Audit: audit("bootstrap")}); ok || err != nil {
		t.Fatalf("Bootstrap after the copy = %v, %v; want false (already initialised)", ok, err)
	}

	// A second copy into the same database is refused.
	if _, err := Copy(ctx, Config{Source: inst.path, Target: target}); !errors.Is(err, ErrTargetNotEmpty) {
		t.Fatalf("second Copy = %v, want ErrTargetNotEmpty", err)
	}
}

// A database that holds anything is refused, and left as it was.
func TestCopyRefusesNonEmptyTarget(t *testing.T) {
	inst := makeInstallation(t, 10)
	target := storetest.PostgresURL(t)
	dst := openPostgres(t, target)
	ctx := context.Background()
	if err := dst.RecordFeedback(ctx, "/help/", "en", true); err != nil {
		t.Fatal(err)
	}
	_, err := Copy(ctx, Config{Source: inst.path, Target: target})
	if !errors.Is(err, ErrTargetNotEmpty) {
		t.Fatalf("Copy into a database with a row = %v, want ErrTargetNotEmpty", err)
	}
	if p, err := dst.Products(ctx); err != nil || len(p) != 0 {
		t.Fatalf("target products after a refused copy = %v, %v; want none", p, err)
	}
}

// A database that holds another application's tables is refused before
// echt's tables are made there: it is left as it was.
func TestCopyLeavesAForeignDatabaseAlone(t *testing.T) {
	inst := makeInstallation(t, 3)
	target := storetest.PostgresURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE foo (x int)"); err != nil {
		t.Fatal(err)
	}
	_, err = Copy(ctx, Config{Source: inst.path, Target: target})
	if !errors.Is(err, ErrTargetForeign) || !strings.Contains(err.Error(), "foo") {
		t.Fatalf("Copy into a database with a table foo = %v, want ErrTargetForeign naming foo", err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()").Scan(&n); err != nil || n != 1 {
		t.Fatalf("tables in the target after a refused copy = %d, %v; want only foo", n, err)
	}
}

func TestCopySchemaChecks(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the source path
		want  error
	}{
		{"not an echt database", func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "other.db")
			db, _ := sql.Open("sqlite", "file:"+path)
			defer db.Close()
			if _, err := db.Exec(`CREATE TABLE x (a)`); err != nil {
				t.Fatal(err)
			}
			return path
		}, ErrSchema},
		{"a table this version does not know", func(t *testing.T) string {
			inst := makeInstallation(t, 1)
			db, _ := sql.Open("sqlite", "file:"+inst.path)
			defer db.Close()
			if _, err := db.Exec(`CREATE TABLE reminders (id TEXT PRIMARY KEY)`); err != nil {
				t.Fatal(err)
			}
			return inst.path
		}, ErrSchema},
		{"no such file", func(t *testing.T) string { return filepath.Join(t.TempDir(), "missing.db") }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := storetest.PostgresURL(t)
			_, err := Copy(ctx, Config{Source: tt.setup(t), Target: target})
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("Copy = %v, want %v", err, tt.want)
			}
			conn, cerr := pgx.Connect(ctx, target)
			if cerr != nil {
				t.Fatal(cerr)
			}
			defer conn.Close(ctx)
			var n int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM settings`).Scan(&n); err == nil && n != 0 {
				t.Fatalf("refused copy left %d settings rows", n)
			}
		})
	}
}

// verify notices any difference between the target and the source.
func TestVerifyFindsDifferences(t *testing.T) {
	inst := makeInstallation(t, 20)
	target := storetest.PostgresURL(t)
	ctx := context.Background()
	rep, err := Copy(ctx, Config{Source: inst.path, Target: target})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tests := []struct {
		name, table, change string
	}{
		{"text", "products", `UPDATE products SET name = name || ' ' WHERE id = 'photoedit'`},
		{"bytes", "secrets", `UPDATE secrets SET value = value || '\x00'::bytea WHERE name = 'other'`},
		{"integer", "activations", `UPDATE activations SET not_after = not_after + 1 WHERE id = 'act_0000003'`},
		{"boolean", "product_keys", `UPDATE product_keys SET blocked = NOT blocked WHERE hash = (SELECT hash FROM product_keys ORDER BY hash LIMIT 1)`},
		{"a missing row", "activation_anchors", `DELETE FROM activation_anchors WHERE activation_id = 'act_0000005'`},
		{"an extra row", "help_feedback", `INSERT INTO help_feedback (page, lang, yes, no) VALUES ('/x', 'en', 0, 0)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, tt.change); err != nil {
				t.Fatal(err)
			}
			r := rep
			r.Tables = slices.Clone(rep.Tables)
			if err := verify(ctx, tx, &r); err != nil {
				t.Fatal(err)
			}
			for _, tr := range r.Tables {
				if tr.OK() != (tr.Table != tt.table) {
					t.Errorf("after changing %s: table %s OK = %v", tt.table, tr.Table, tr.OK())
				}
			}
			if r.OK() {
				t.Errorf("report OK after changing %s", tt.table)
			}
		})
	}
}

// The table list is the schema: every table of both migrations.
func TestTablesMatchMigrations(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), sqlite.FileName))
	var names []string
	rows, err := s.DB().Query(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'goose_db_version' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	want := slices.Sorted(slices.Values(Tables()))
	if !slices.Equal(names, want) {
		t.Fatalf("SQLite tables %v, storecopy copies %v", names, want)
	}
}
