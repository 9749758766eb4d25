// Package storecopy moves a whole echt installation from its embedded
// SQLite database into a fresh PostgreSQL database, and proves the copy.
//
// Copy reads the SQLite file in one read transaction, so a server may keep
// running on it: the copy is the consistent snapshot of the moment the
// transaction began. It migrates the target (postgres.Open), refuses a
// target that holds any row, streams every table into it with COPY inside
// one transaction, keeps the audit log's sequence numbers (and moves the
// sequence past them), and before committing reads everything back and
// compares, table by table, the row count and a SHA-256 checksum that both
// sides compute the same way. A copy that does not match is rolled back:
// the target is either a verified copy or left empty.
//
// Secrets and private signing keys are copied sealed, as they are: the
// PostgreSQL nodes need the master key of the SQLite installation.
package storecopy

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the SQLite driver

	"github.com/echt-dev/echt/internal/store/postgres"
)

// Errors Copy reports; compare with errors.Is.
var (
	// ErrTargetNotEmpty means the PostgreSQL database already holds data.
	ErrTargetNotEmpty = errors.New("the target database is not empty")
	// ErrTargetForeign means the target holds tables that are not echt's
	// (another application's database): nothing was done there.
	ErrTargetForeign = errors.New("the target database holds another application's tables")
	// ErrMismatch means the copy read back differs from the source; the
	// copy was rolled back.
	ErrMismatch = errors.New("the copy does not match the source")
	// ErrSchema means the two databases do not have the tables and
	// columns this version of echt copies.
	ErrSchema = errors.New("unexpected database schema")
)

// kind is how a column's values are read, written and checksummed.
type kind byte

const (
	kindText  kind = 't' // TEXT in both
	kindBytes kind = 'b' // BLOB in SQLite, BYTEA in PostgreSQL
	kindInt   kind = 'i' // INTEGER in SQLite; BIGINT or INTEGER in PostgreSQL
	kindBool  kind = 'B' // INTEGER 0/1 in SQLite, BOOLEAN in PostgreSQL
)

type column struct {
	name string
	kind kind
}

type table struct {
	name string
	key  []string // primary key: rows are copied and checksummed in its order
	cols []column
}

func cols(spec ...string) []column {
	out := make([]column, len(spec))
	for i, s := range spec {
		name, k, _ := strings.Cut(s, " ")
		out[i] = column{name, map[string]kind{"text": kindText, "bytea": kindBytes, "int": kindInt, "bool": kindBool}[k]}
	}
	return out
}

// tables is every table of the schema, in an order that satisfies the
// foreign keys (products before skus before product_keys). Copy checks
// that both databases have exactly these tables and columns, so a
// migration that adds one cannot be forgotten here.
var tables = []table{
	{"settings", []string{"name"}, cols("name text", "value bytea")},
	{"secrets", []string{"name"}, cols("name text", "value bytea", "created_at int")},
	{"signing_keys", []string{"id"}, cols("id text", "role text", "public_key bytea", "private_key bytea", "certificate bytea", "created_at int", "retired_at int")},
	{"tokens", []string{"id"}, cols("id text", "hash bytea", "role text", "description text", "created_at int", "revoked_at int")},
	{"products", []string{"id"}, cols("id text", "name text", "hardware_salt bytea", "created_at int")},
	{"skus", []string{"id"}, cols("id text", "product_id text", "edition text", "channel text", "policy text", "entitlements text", "key_group int", "next_serial int", "created_at int")},
	{"product_keys", []string{"hash"}, cols("hash bytea", "sku_id text", "last_group text", "blocked bool", "block_reason text", "blocked_at int", "created_at int", "active_activations int", "activations int", "not_after int")},
	{"activations", []string{"id"}, cols("id text", "key_hash bytea", "sku_id text", "product_id text", "last_group text", "profile bytea", "status text", "created_at int", "not_after int", "ended_at int", "end_reason text", "prior_id text", "anchors bytea")},
	{"activation_anchors", []string{"product_id", "anchor", "activation_id"}, cols("product_id text", "anchor bytea", "activation_id text")},
	{"audit_log", []string{"seq"}, cols("seq int", "at int", "actor text", "action text", "target text", "detail text", "request_id text")},
	{"help_feedback", []string{"page", "lang"}, cols("page text", "lang text", "yes int", "no int")},
}

// Tables returns the names of the tables Copy copies, in copy order.
func Tables() []string {
	out := make([]string, len(tables))
	for i, t := range tables {
		out[i] = t.name
	}
	return out
}

// Config configures Copy.
type Config struct {
	// Source is the SQLite database file (DATA/echt.db). Required.
	Source string
	// Target is the PostgreSQL database, a postgres:// URL. Required; it
	// is migrated first and must hold no rows.
	Target string
	// Progress, if set, is called after each table is copied, with the
	// number of rows copied.
	Progress func(table string, rows int64)
}

// Validate reports whether c can be used by Copy.
func (c Config) Validate() error {
	if c.Source == "" {
		return errors.New("storecopy: Config.Source is required")
	}
	if c.Target == "" {
		return errors.New("storecopy: Config.Target is required")
	}
	return nil
}

// TableReport compares one table of the source and of the copy.
type TableReport struct {
	Table        string `json:"table"`
	SourceRows   int64  `json:"source_rows"`
	TargetRows   int64  `json:"target_rows"`
	SourceSHA256 string `json:"source_sha256"`
	TargetSHA256 string `json:"target_sha256"`
}

// OK reports whether the copy of the table matches its source.
func (r TableReport) OK() bool {
	return r.SourceRows == r.TargetRows && r.SourceSHA256 == r.TargetSHA256
}

// Report is the outcome of a copy.
type Report struct {
	Tables        []TableReport `json:"tables"`
	SchemaVersion int64         `json:"schema_version"`
	// NextAuditSeq is the sequence number the next audit entry gets.
	NextAuditSeq int64         `json:"next_audit_seq"`
	Rows         int64         `json:"rows"`
	Duration     time.Duration `json:"duration_ns"`
	Committed    bool          `json:"committed"`
}

// OK reports whether every table matches.
func (r Report) OK() bool {
	for _, t := range r.Tables {
		if !t.OK() {
			return false
		}
	}
	return len(r.Tables) == len(tables)
}

// Copy copies the SQLite installation cfg.Source into the empty PostgreSQL
// database cfg.Target and verifies it (see the package documentation). It
// returns the report whenever it got to compare tables, also with
// ErrMismatch.
func Copy(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	start := time.Now()
	src, err := openSource(cfg.Source)
	if err != nil {
		return Report{}, err
	}
	defer src.Close()
	// Before the target is migrated: a database holding something else
	// stays as it was. (Where this look cannot connect, opening the store
	// below says why.)
	if foreign, err := foreignTables(ctx, cfg.Target); err == nil && len(foreign) > 0 {
		return Report{}, fmt.Errorf("%w (%s): nothing was changed there", ErrTargetForeign, strings.Join(foreign, ", "))
	}
	dst, err := postgres.Open(ctx, postgres.Config{URL: cfg.Target})
	if err != nil {
		return Report{}, fmt.Errorf("open target: %w", err)
	}
	defer dst.Close()

	// One read transaction on one connection: a consistent snapshot,
	// even while a server writes to the file.
	stx, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Report{}, fmt.Errorf("read source: %w", err)
	}
	defer func() { _ = stx.Rollback() }()
	srcVersion, err := sourceSchema(ctx, stx)
	if err != nil {
		return Report{}, err
	}

	tx, err := dst.Pool().Begin(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("target: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // after Commit, a no-op
	dstVersion, err := targetSchema(ctx, tx)
	if err != nil {
		return Report{}, err
	}
	if srcVersion != dstVersion {
		return Report{}, fmt.Errorf("%w: the source is at schema version %d, this echt at %d: start this version of echt serve once on the SQLite data directory (it migrates on start), then copy", ErrSchema, srcVersion, dstVersion)
	}
	if err := checkEmpty(ctx, tx); err != nil {
		return Report{}, err
	}

	rep := Report{SchemaVersion: dstVersion}
	for _, t := range tables {
		n, sum, err := copyTable(ctx, stx, tx, t)
		if err != nil {
			return Report{}, fmt.Errorf("copy %s: %w", t.name, err)
		}
		rep.Tables = append(rep.Tables, TableReport{Table: t.name, SourceRows: n, SourceSHA256: sum})
		rep.Rows += n
		if cfg.Progress != nil {
			cfg.Progress(t.name, n)
		}
	}
	if rep.NextAuditSeq, err = moveAuditSeq(ctx, stx, tx); err != nil {
		return Report{}, err
	}
	_ = stx.Rollback() // the snapshot is read; let the source's WAL move on

	if err := verify(ctx, tx, &rep); err != nil {
		return rep, err
	}
	if !rep.OK() {
		rep.Duration = time.Since(start)
		return rep, ErrMismatch
	}
	if err := tx.Commit(ctx); err != nil {
		return rep, fmt.Errorf("commit the copy: %w", err)
	}
	rep.Committed = true
	rep.Duration = time.Since(start)
	return rep, nil
}

// openSource opens the SQLite file read-only, without creating it.
func openSource(path string) (*sql.DB, error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	} else if fi.IsDir() {
		return nil, fmt.Errorf("source %s is a directory, not the SQLite database file", path)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// sourceSchema checks the source's tables and columns and returns its
// schema (migration) version.
func sourceSchema(ctx context.Context, tx *sql.Tx) (int64, error) {
	var version sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&version); err != nil {
		return 0, fmt.Errorf("source %w: no echt migrations table (%v): is this an echt database?", ErrSchema, err)
	}
	got := map[string][]string{}
	rows, err := tx.QueryContext(ctx, `SELECT m.name, p.name FROM sqlite_schema m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name != 'goose_db_version'
		ORDER BY m.name, p.cid`)
	if err != nil {
		return 0, fmt.Errorf("source schema: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return 0, fmt.Errorf("source schema: %w", err)
		}
		got[t] = append(got[t], c)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("source schema: %w", err)
	}
	if err := compareSchema("source", got); err != nil {
		return 0, err
	}
	return version.Int64, nil
}

// foreignTables lists the tables of the target's schema that are neither
// echt's nor its migrations'.
func foreignTables(ctx context.Context, target string) ([]string, error) {
	conn, err := pgx.Connect(ctx, target)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT table_name::text FROM information_schema.tables
		WHERE table_schema = current_schema() AND NOT (table_name = ANY($1)) ORDER BY table_name`, append(Tables(), "goose_db_version"))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// targetSchema checks the target's tables and columns and returns its
// schema version.
func targetSchema(ctx context.Context, tx pgx.Tx) (int64, error) {
	var version int64
	if err := tx.QueryRow(ctx, `SELECT max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&version); err != nil {
		return 0, fmt.Errorf("target schema: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT table_name::text, column_name::text FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name != 'goose_db_version'
		ORDER BY table_name, ordinal_position`)
	if err != nil {
		return 0, fmt.Errorf("target schema: %w", err)
	}
	got := map[string][]string{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			rows.Close()
			return 0, fmt.Errorf("target schema: %w", err)
		}
		got[t] = append(got[t], c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("target schema: %w", err)
	}
	if err := compareSchema("target", got); err != nil {
		return 0, err
	}
	return version, nil
}

// compareSchema reports any table or column that differs from tables.
func compareSchema(side string, got map[string][]string) error {
	var problems []string
	for _, t := range tables {
		want := make([]string, len(t.cols))
		for i, c := range t.cols {
			want[i] = c.name
		}
		have, ok := got[t.name]
		switch {
		case !ok:
			problems = append(problems, "table "+t.name+" is missing")
		case !slices.Equal(have, want):
			problems = append(problems, fmt.Sprintf("table %s has columns (%s), expected (%s)", t.name, strings.Join(have, ", "), strings.Join(want, ", ")))
		}
		delete(got, t.name)
	}
	for name := range got {
		problems = append(problems, "table "+name+" is unknown to this version of echt")
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("%s %w: %s", side, ErrSchema, strings.Join(problems, "; "))
	}
	return nil
}

// checkEmpty locks every table of the target (a node starting meanwhile
// waits, then finds the database initialised) and refuses one with rows.
func checkEmpty(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(Tables(), ", ")+` IN EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("lock target tables: %w", err)
	}
	var full []string
	for _, t := range tables {
		var has bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+t.name+`)`).Scan(&has); err != nil {
			return fmt.Errorf("target %s: %w", t.name, err)
		}
		if has {
			full = append(full, t.name)
		}
	}
	if len(full) > 0 {
		return fmt.Errorf("%w: %s already hold rows; copy into a new, empty database (CREATE DATABASE ...)", ErrTargetNotEmpty, strings.Join(full, ", "))
	}
	return nil
}

func (t table) selectSQL(postgres bool) string {
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = c.name
	}
	order := make([]string, len(t.key))
	for i, k := range t.key {
		order[i] = k
		if postgres && t.col(k).kind == kindText {
			// Byte order, as SQLite's BINARY collation, whatever the
			// database's collation.
			order[i] += ` COLLATE "C"`
		}
	}
	return `SELECT ` + strings.Join(names, ", ") + ` FROM ` + t.name + ` ORDER BY ` + strings.Join(order, ", ")
}

func (t table) col(name string) column {
	for _, c := range t.cols {
		if c.name == name {
			return c
		}
	}
	panic("storecopy: no column " + name + " in " + t.name)
}

// rowHash is the checksum of a table: SHA-256 over its rows in key order,
// each column as its kind's tag, then an 8-byte big-endian integer (int,
// bool as 0 or 1) or an 8-byte length and the bytes (text, bytea).
type rowHash struct {
	h   hash.Hash
	n   int64
	buf [9]byte
}

func newRowHash() *rowHash { return &rowHash{h: sha256.New()} }

func (r *rowHash) int(k kind, v int64) {
	r.buf[0] = byte(k)
	binary.BigEndian.PutUint64(r.buf[1:], uint64(v))
	r.h.Write(r.buf[:])
}

func (r *rowHash) bytes(k kind, b []byte) {
	r.int(k, int64(len(b)))
	r.h.Write(b)
}

func (r *rowHash) sum() string { return hex.EncodeToString(r.h.Sum(nil)) }

// sourceRows streams a table's rows from SQLite into COPY, checksumming
// each row as it goes.
type sourceRows struct {
	t     table
	rows  *sql.Rows
	dest  []any
	vals  []any
	sum   *rowHash
	err   error
	strs  []string
	blobs [][]byte
	ints  []int64
}

func newSourceRows(t table, rows *sql.Rows) *sourceRows {
	s := &sourceRows{t: t, rows: rows, sum: newRowHash(), dest: make([]any, len(t.cols)), vals: make([]any, len(t.cols)),
		strs: make([]string, len(t.cols)), blobs: make([][]byte, len(t.cols)), ints: make([]int64, len(t.cols))}
	for i, c := range t.cols {
		switch c.kind {
		case kindText:
			s.dest[i] = &s.strs[i]
		case kindBytes:
			s.dest[i] = &s.blobs[i]
		default:
			s.dest[i] = &s.ints[i]
		}
	}
	return s
}

func (s *sourceRows) Next() bool {
	if s.err != nil || !s.rows.Next() {
		return false
	}
	if err := s.rows.Scan(s.dest...); err != nil {
		s.err = fmt.Errorf("row %d: %w", s.sum.n+1, err)
		return false
	}
	for i, c := range s.t.cols {
		switch c.kind {
		case kindText:
			s.sum.bytes(kindText, []byte(s.strs[i]))
			s.vals[i] = s.strs[i]
		case kindBytes:
			b := s.blobs[i]
			if b == nil {
				b = []byte{} // a zero-length BLOB: NOT NULL in PostgreSQL too
			}
			s.sum.bytes(kindBytes, b)
			s.vals[i] = b
		case kindBool:
			v := s.ints[i] != 0
			s.sum.int(kindBool, b2i(v))
			s.vals[i] = v
		default:
			s.sum.int(kindInt, s.ints[i])
			s.vals[i] = s.ints[i]
		}
	}
	s.sum.n++
	return true
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func (s *sourceRows) Values() ([]any, error) { return s.vals, nil }

func (s *sourceRows) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.rows.Err()
}

// copyTable copies one table with COPY and returns the source's row count
// and checksum.
func copyTable(ctx context.Context, stx *sql.Tx, tx pgx.Tx, t table) (int64, string, error) {
	rows, err := stx.QueryContext(ctx, t.selectSQL(false))
	if err != nil {
		return 0, "", fmt.Errorf("read source: %w", err)
	}
	defer rows.Close()
	src := newSourceRows(t, rows)
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = c.name
	}
	// COPY writes identity columns (audit_log.seq) as given, as INSERT
	// ... OVERRIDING SYSTEM VALUE would.
	n, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, names, src)
	if err != nil {
		return 0, "", err
	}
	if err := src.Err(); err != nil {
		return 0, "", err
	}
	if n != src.sum.n {
		return 0, "", fmt.Errorf("COPY wrote %d rows of %d read", n, src.sum.n)
	}
	return n, src.sum.sum(), nil
}

// moveAuditSeq sets the target's audit sequence past every sequence number
// the source used, and returns the next one.
func moveAuditSeq(ctx context.Context, stx *sql.Tx, tx pgx.Tx) (int64, error) {
	var maxSeq int64
	if err := stx.QueryRowContext(ctx, `SELECT max(coalesce((SELECT max(seq) FROM audit_log), 0),
		coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'), 0))`).Scan(&maxSeq); err != nil {
		return 0, fmt.Errorf("source audit sequence: %w", err)
	}
	if maxSeq == 0 {
		return 1, nil
	}
	if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('audit_log', 'seq'), $1)`, maxSeq); err != nil {
		return 0, fmt.Errorf("target audit sequence: %w", err)
	}
	return maxSeq + 1, nil
}

// verify reads every table of the target back and fills in its counts and
// checksums.
func verify(ctx context.Context, q pgx.Tx, rep *Report) error {
	for i, t := range tables {
		n, sum, err := targetSum(ctx, q, t)
		if err != nil {
			return fmt.Errorf("verify %s: %w", t.name, err)
		}
		rep.Tables[i].TargetRows, rep.Tables[i].TargetSHA256 = n, sum
	}
	return nil
}

// querier is what targetSum reads with: a transaction or a pool.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// targetSum computes a table's row count and checksum in PostgreSQL, as
// sourceRows does in SQLite.
func targetSum(ctx context.Context, q querier, t table) (int64, string, error) {
	rows, err := q.Query(ctx, t.selectSQL(true))
	if err != nil {
		return 0, "", err
	}
	defer rows.Close()
	sum := newRowHash()
	dest := make([]any, len(t.cols))
	strs := make([]string, len(t.cols))
	blobs := make([][]byte, len(t.cols))
	ints := make([]int64, len(t.cols))
	bools := make([]bool, len(t.cols))
	for i, c := range t.cols {
		switch c.kind {
		case kindText:
			dest[i] = &strs[i]
		case kindBytes:
			dest[i] = &blobs[i]
		case kindBool:
			dest[i] = &bools[i]
		default:
			dest[i] = &ints[i]
		}
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return 0, "", err
		}
		for i, c := range t.cols {
			switch c.kind {
			case kindText:
				sum.bytes(kindText, []byte(strs[i]))
			case kindBytes:
				sum.bytes(kindBytes, blobs[i])
			case kindBool:
				sum.int(kindBool, b2i(bools[i]))
			default:
				sum.int(kindInt, ints[i])
			}
		}
		sum.n++
	}
	if err := rows.Err(); err != nil {
		return 0, "", err
	}
	return sum.n, sum.sum(), nil
}
