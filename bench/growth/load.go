package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, as echt uses

	"github.com/echt-dev/echt/internal/hardware"
	"github.com/echt-dev/echt/internal/productkey"
	"github.com/echt-dev/echt/internal/store"
)

const (
	// activationsPerKey is how many activations share one product key.
	activationsPerKey = 5
	// chunkSize is the number of activations per load transaction.
	chunkSize = 200_000
)

// backend is a database being grown.
type backend interface {
	// info describes the database engine.
	info(ctx context.Context) (storeInfo, error)
	// count returns the number of activations (all products).
	count(ctx context.Context) (int64, error)
	// load adds n activations, their keys and anchors.
	load(ctx context.Context, g *generator, n int64) (loadStats, error)
	// size returns the database's size on disk in bytes.
	size(ctx context.Context) (int64, error)
}

type loadStats struct{ activations, keys, anchors int64 }

type keyRow struct {
	hash      []byte
	lastGroup string
	created   int64
	count     int32
}

type actRow struct {
	id      string
	key     *keyRow
	profile []byte
	anchors []byte // store.PackAnchors of its indexed anchors
	created int64
}

type anchorRow struct {
	anchor []byte
	act    string
}

type chunk struct {
	keys    []keyRow
	acts    []actRow
	anchors []anchorRow
}

// ids encodes activation ids as internal/ident does.
var ids = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// generator makes the rows of activations: ids sortable by creation time
// (spread over the two years before the run, oldest first, so that each
// load appends to the activations table as real traffic does), random
// hardware profiles of seven hashed components (a few CPU models and memory
// sizes shared by many devices, as in real fleets), and random key hashes.
//
// Within one load of c chunks, chunk i draws its key hashes and anchors
// uniformly from the i-th c-th of the value space (and sorts them), so each
// transaction inserts into one region of each index, as a bulk loader's
// sort would; the data loaded is uniformly spread all the same. Without
// this, every transaction would dirty nearly every page of the anchor
// index and a 10M load would write the index many times over.
type generator struct {
	rng    *rand.ChaCha8
	next   int64
	start  int64
	stepMS float64
	cpus   []string
	mems   []string
}

func newGenerator(total int64) *generator {
	var seed [32]byte
	_, _ = crand.Read(seed[:])
	g := &generator{rng: rand.NewChaCha8(seed)}
	span := int64(2 * 365 * 24 * time.Hour / time.Millisecond)
	g.start = time.Now().UnixMilli() - span
	g.stepMS = float64(span) / float64(max(total, 1))
	for range 24 {
		g.cpus = append(g.cpus, g.hex16(0, 1))
	}
	for range 6 {
		g.mems = append(g.mems, g.hex16(0, 1))
	}
	return g
}

// prefix returns a random 64-bit value in the slice-th of parts equal
// parts of the value space.
func (g *generator) prefix(slice, parts int) uint64 {
	w := math.MaxUint64 / uint64(parts)
	return uint64(slice)*w + g.rng.Uint64()%w
}

// hex16 returns 32 hex characters of 16 random bytes from a slice of the
// value space.
func (g *generator) hex16(slice, parts int) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], g.prefix(slice, parts))
	binary.BigEndian.PutUint64(b[8:], g.rng.Uint64())
	return hex.EncodeToString(b[:])
}

func (g *generator) lastGroup() string {
	var b [5]byte
	for i := range b {
		b[i] = productkey.Alphabet[g.rng.Uint64()%uint64(len(productkey.Alphabet))]
	}
	return string(b[:])
}

// id returns act_ and 26 base32 characters: 48 bits of milliseconds and 80
// random bits, as ident.New("act") at that time would.
func (g *generator) id(ms int64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(ms)<<16|g.rng.Uint64()&0xffff)
	binary.BigEndian.PutUint64(b[8:], g.rng.Uint64())
	return "act_" + ids.EncodeToString(b[:])
}

// chunk makes n activations: chunk slice of parts of one load.
func (g *generator) chunk(n, slice, parts int) chunk {
	c := chunk{keys: make([]keyRow, (n+activationsPerKey-1)/activationsPerKey), acts: make([]actRow, n), anchors: make([]anchorRow, 0, 2*n)}
	for i := range c.keys {
		h := make([]byte, 32)
		binary.BigEndian.PutUint64(h[:8], g.prefix(slice, parts))
		_, _ = g.rng.Read(h[8:])
		c.keys[i] = keyRow{hash: h, lastGroup: g.lastGroup()}
	}
	// Sorted keys, assigned in order to activations in id order: the key
	// index of activations grows in order within the chunk too.
	slices.SortFunc(c.keys, func(a, b keyRow) int { return bytes.Compare(a.hash, b.hash) })
	for j := range c.acts {
		created := g.start + int64(float64(g.next)*g.stepMS)
		g.next++
		k := &c.keys[j/activationsPerKey]
		if k.count == 0 {
			k.created = created
		}
		k.count++
		p := hardware.Profile{
			SystemUUID:  g.hex16(slice, parts),
			BoardSerial: g.hex16(0, 1),
			Disks:       []string{g.hex16(0, 1)},
			MACs:        []string{g.hex16(slice, parts)},
			CPU:         g.cpus[g.rng.Uint64()%uint64(len(g.cpus))],
			Memory:      g.mems[g.rng.Uint64()%uint64(len(g.mems))],
			OSInstallID: g.hex16(0, 1),
		}
		prof, err := json.Marshal(p)
		if err != nil {
			panic(err)
		}
		id := g.id(created)
		// The anchors echt indexes: system UUID (kind 1) and network card
		// (kind 4), 17 bytes each, in the anchor table and in the row.
		packed, err := store.PackAnchors(p.IndexAnchors())
		if err != nil {
			panic(err)
		}
		c.acts[j] = actRow{id: id, key: k, profile: prof, anchors: packed, created: created}
		for _, a := range p.IndexAnchors() {
			c.anchors = append(c.anchors, anchorRow{anchor: a, act: id})
		}
	}
	slices.SortFunc(c.anchors, func(a, b anchorRow) int { return bytes.Compare(a.anchor, b.anchor) })
	return c
}

// chunks generates the chunks of a load of n activations on a goroutine,
// one ahead of the writer.
func (g *generator) chunks(ctx context.Context, n int64) <-chan chunk {
	out := make(chan chunk, 1)
	parts := int((n + chunkSize - 1) / chunkSize)
	go func() {
		defer close(out)
		for i := range parts {
			m := n / int64(parts)
			if int64(i) < n%int64(parts) {
				m++
			}
			select {
			case out <- g.chunk(int(m), i, parts):
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func progress(name string, done, total int64, rows int64, t0 time.Time) {
	if total >= 4*chunkSize {
		log.Printf("%s: %s/%s activations loaded (%.0f rows/s)", name, short(float64(done)), short(float64(total)), float64(rows)/time.Since(t0).Seconds())
	}
}

// SQLite.

type sqliteDB struct{ path string }

// open opens the database for the loader, with the server stopped: no
// fsync (synchronous=OFF, for the bulk load only) and a large page cache.
func (s *sqliteDB) open() (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(s.path)+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=cache_size(-524288)&_pragma=temp_store(MEMORY)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

func (s *sqliteDB) info(ctx context.Context) (storeInfo, error) {
	db, err := s.open()
	if err != nil {
		return storeInfo{}, err
	}
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, `SELECT sqlite_version()`).Scan(&v); err != nil {
		return storeInfo{}, fmt.Errorf("sqlite: %w", err)
	}
	return storeInfo{Engine: "SQLite " + v + " (modernc.org/sqlite)", Settings: map[string]string{
		"journal_mode": "WAL", "synchronous": "NORMAL on the writer, the WAL synced (fdatasync) before a write is answered", "writer cache_size": "16 MiB", "readers": "4",
	}}, nil
}

func (s *sqliteDB) count(ctx context.Context) (int64, error) {
	db, err := s.open()
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM activations`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count: %w", err)
	}
	return n, nil
}

func (s *sqliteDB) size(ctx context.Context) (int64, error) {
	var total int64
	for _, suffix := range []string{"", "-wal"} {
		st, err := os.Stat(s.path + suffix)
		if err == nil {
			total += st.Size()
		} else if suffix == "" {
			return 0, err
		}
	}
	return total, nil
}

// Rows per multi-row INSERT statement.
const (
	keysPerInsert    = 500 // 6 parameters each
	actsPerInsert    = 400 // 9 parameters each
	anchorsPerInsert = 1000
)

func insertSQL(head, row string, n int) string {
	var b strings.Builder
	b.WriteString(head)
	b.WriteString(" VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

const (
	keysHead    = `INSERT INTO product_keys (hash, sku_id, last_group, created_at, active_activations, activations)`
	keysRow     = `(?, ?, ?, ?, ?, ?)`
	actsHead    = `INSERT INTO activations (id, key_hash, sku_id, product_id, last_group, profile, status, created_at, anchors)`
	actsRow     = `(?, ?, ?, ?, ?, ?, ?, ?, ?)`
	anchorsHead = `INSERT INTO activation_anchors (product_id, anchor, activation_id)`
	anchorsRow  = `(?, ?, ?)`
)

// insertAll inserts rows in statements of per rows each (a prepared
// statement) and one for the rest.
func insertAll(ctx context.Context, tx *sql.Tx, full *sql.Stmt, head, row string, per, n int, args func(i int, dst []any) []any) error {
	buf := make([]any, 0, per*8)
	for i := 0; i < n; i += per {
		m := min(per, n-i)
		buf = buf[:0]
		for j := i; j < i+m; j++ {
			buf = args(j, buf)
		}
		var err error
		if m == per {
			_, err = tx.Stmt(full).ExecContext(ctx, buf...)
		} else {
			_, err = tx.ExecContext(ctx, insertSQL(head, row, m), buf...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *sqliteDB) load(ctx context.Context, g *generator, n int64) (loadStats, error) {
	db, err := s.open()
	if err != nil {
		return loadStats{}, err
	}
	defer db.Close()
	prep := func(head, row string, per int) (*sql.Stmt, error) {
		return db.PrepareContext(ctx, insertSQL(head, row, per))
	}
	keysStmt, err := prep(keysHead, keysRow, keysPerInsert)
	if err != nil {
		return loadStats{}, fmt.Errorf("sqlite: prepare: %w", err)
	}
	actsStmt, err := prep(actsHead, actsRow, actsPerInsert)
	if err != nil {
		return loadStats{}, fmt.Errorf("sqlite: prepare: %w", err)
	}
	anchorsStmt, err := prep(anchorsHead, anchorsRow, anchorsPerInsert)
	if err != nil {
		return loadStats{}, fmt.Errorf("sqlite: prepare: %w", err)
	}
	var st loadStats
	t0 := time.Now()
	for c := range g.chunks(ctx, n) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return st, fmt.Errorf("sqlite: begin: %w", err)
		}
		err = insertAll(ctx, tx, keysStmt, keysHead, keysRow, keysPerInsert, len(c.keys), func(i int, dst []any) []any {
			k := c.keys[i]
			return append(dst, k.hash, skuID, k.lastGroup, k.created, k.count, k.count)
		})
		if err == nil {
			err = insertAll(ctx, tx, actsStmt, actsHead, actsRow, actsPerInsert, len(c.acts), func(i int, dst []any) []any {
				a := c.acts[i]
				return append(dst, a.id, a.key.hash, skuID, productID, a.key.lastGroup, a.profile, "active", a.created, a.anchors)
			})
		}
		if err == nil {
			err = insertAll(ctx, tx, anchorsStmt, anchorsHead, anchorsRow, anchorsPerInsert, len(c.anchors), func(i int, dst []any) []any {
				a := c.anchors[i]
				return append(dst, productID, a.anchor, a.act)
			})
		}
		if err == nil {
			err = tx.Commit()
		} else {
			_ = tx.Rollback()
		}
		if err != nil {
			return st, fmt.Errorf("sqlite: load: %w", err)
		}
		st.keys += int64(len(c.keys))
		st.activations += int64(len(c.acts))
		st.anchors += int64(len(c.anchors))
		progress("sqlite", st.activations, n, st.keys+st.activations+st.anchors, t0)
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return st, fmt.Errorf("sqlite: checkpoint: %w", err)
	}
	return st, nil
}

// PostgreSQL.

// createDatabase creates a database with a random name on the server and
// returns its URL and a function that drops it.
func createDatabase(ctx context.Context, server string) (dbURL, name string, drop func(), err error) {
	conn, err := connectPG(ctx, server)
	if err != nil {
		return "", "", nil, err
	}
	defer conn.Close(context.Background())
	var b [8]byte
	_, _ = crand.Read(b[:])
	name = "echt_growth_" + hex.EncodeToString(b[:])
	// The name is ours (lower-case letters, digits, underscore): safe to
	// put into the statement unquoted.
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", "", nil, fmt.Errorf("postgres: create database: %w", err)
	}
	log.Printf("postgres: created database %s", name)
	drop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := connectPG(ctx, server)
		if err != nil {
			log.Printf("postgres: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			log.Printf("postgres: drop database %s: %v", name, err)
			return
		}
		log.Printf("postgres: dropped database %s", name)
	}
	u, err := withDatabase(server, name)
	if err != nil {
		drop()
		return "", "", nil, err
	}
	return u, name, drop, nil
}

func connectPG(ctx context.Context, u string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect to %s: %w (set ECHT_TEST_POSTGRES or -postgres, or use -stores sqlite)", redact(u), err)
	}
	return conn, nil
}

// withDatabase returns the connection string server with its database
// replaced by name.
func withDatabase(server, name string) (string, error) {
	if !strings.HasPrefix(server, "postgres://") && !strings.HasPrefix(server, "postgresql://") {
		return server + " dbname=" + name, nil // libpq key=value string: the last value wins
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("postgres URL: %w", err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
			return u.String()
		}
	}
	return s
}

type pgDB struct{ url string }

func (p *pgDB) info(ctx context.Context) (storeInfo, error) {
	conn, err := connectPG(ctx, p.url)
	if err != nil {
		return storeInfo{}, err
	}
	defer conn.Close(context.Background())
	info := storeInfo{Settings: map[string]string{}}
	var v string
	if err := conn.QueryRow(ctx, `SHOW server_version`).Scan(&v); err != nil {
		return info, fmt.Errorf("postgres: %w", err)
	}
	info.Engine = "PostgreSQL " + v
	for _, name := range []string{"shared_buffers", "synchronous_commit", "max_connections", "wal_level", "max_wal_size", "effective_io_concurrency"} {
		var s string
		if err := conn.QueryRow(ctx, `SELECT current_setting($1)`, name).Scan(&s); err == nil {
			info.Settings[name] = s
		}
	}
	info.Settings["echt pool"] = "16 connections, 2 writers, up to 128 writes per transaction"
	return info, nil
}

func (p *pgDB) count(ctx context.Context) (int64, error) {
	conn, err := connectPG(ctx, p.url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM activations`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count: %w", err)
	}
	return n, nil
}

func (p *pgDB) size(ctx context.Context) (int64, error) {
	conn, err := connectPG(ctx, p.url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int64
	if err := conn.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: database size: %w", err)
	}
	return n, nil
}

func (p *pgDB) load(ctx context.Context, g *generator, n int64) (loadStats, error) {
	conn, err := connectPG(ctx, p.url)
	if err != nil {
		return loadStats{}, err
	}
	defer conn.Close(context.Background())
	// The load's own commits need not wait for the WAL flush.
	if _, err := conn.Exec(ctx, `SET synchronous_commit TO off`); err != nil {
		return loadStats{}, fmt.Errorf("postgres: %w", err)
	}
	var st loadStats
	t0 := time.Now()
	for c := range g.chunks(ctx, n) {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"product_keys"}, []string{"hash", "sku_id", "last_group", "created_at", "active_activations", "activations"},
				pgx.CopyFromSlice(len(c.keys), func(i int) ([]any, error) {
					k := c.keys[i]
					return []any{k.hash, skuID, k.lastGroup, k.created, k.count, k.count}, nil
				})); err != nil {
				return fmt.Errorf("copy product_keys: %w", err)
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"activations"}, []string{"id", "key_hash", "sku_id", "product_id", "last_group", "profile", "status", "created_at", "anchors"},
				pgx.CopyFromSlice(len(c.acts), func(i int) ([]any, error) {
					a := c.acts[i]
					return []any{a.id, a.key.hash, skuID, productID, a.key.lastGroup, a.profile, "active", a.created, a.anchors}, nil
				})); err != nil {
				return fmt.Errorf("copy activations: %w", err)
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"activation_anchors"}, []string{"product_id", "anchor", "activation_id"},
				pgx.CopyFromSlice(len(c.anchors), func(i int) ([]any, error) {
					a := c.anchors[i]
					return []any{productID, a.anchor, a.act}, nil
				})); err != nil {
				return fmt.Errorf("copy activation_anchors: %w", err)
			}
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("postgres: load: %w", err)
		}
		st.keys += int64(len(c.keys))
		st.activations += int64(len(c.acts))
		st.anchors += int64(len(c.anchors))
		progress("postgres", st.activations, n, st.keys+st.activations+st.anchors, t0)
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	// What autovacuum would do in a while anyway, done before measuring:
	// planner statistics and the visibility map. Then a checkpoint, so the
	// load's dirty pages are not written during the measurement.
	if _, err := conn.Exec(ctx, `VACUUM (ANALYZE) product_keys, activations, activation_anchors`); err != nil {
		return st, fmt.Errorf("postgres: vacuum: %w", err)
	}
	if _, err := conn.Exec(ctx, `CHECKPOINT`); err != nil {
		log.Printf("postgres: CHECKPOINT after the load failed (%v); measuring anyway", err)
	}
	return st, nil
}
