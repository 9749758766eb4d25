package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/echt-dev/echt/internal/store"
)

// DefaultPostgres is the server PostgresURL uses when ECHT_TEST_POSTGRES is
// not set.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres"

// PostgresURL creates a fresh, empty database on the PostgreSQL server
// named by ECHT_TEST_POSTGRES (a URL or libpq string; default
// DefaultPostgres), drops it when t ends, and returns its URL. The database
// is named echt_test_<random hex>.
//
// If the server cannot be reached, the test is skipped, unless
// ECHT_REQUIRE_POSTGRES=1, in which case it fails. A server that was named
// on purpose (ECHT_TEST_POSTGRES) and answers with an error (no such
// database or role, a refused password), or a URL that cannot be parsed,
// fails the test: that is a mistake to fix, not a missing PostgreSQL.
func PostgresURL(t testing.TB) string {
	t.Helper()
	server := os.Getenv("ECHT_TEST_POSTGRES")
	if server == "" {
		server = DefaultPostgres
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	named := os.Getenv("ECHT_TEST_POSTGRES") != ""
	if _, err := pgx.ParseConfig(server); err != nil && named {
		t.Fatalf("ECHT_TEST_POSTGRES is not a PostgreSQL URL: %v", err)
	}
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		var pgErr *pgconn.PgError
		if named && errors.As(err, &pgErr) {
			t.Fatalf("ECHT_TEST_POSTGRES=%s: the server answered with an error (%v): fix the URL (user, password, database), or unset it to use %s", store.RedactURL(server), err, DefaultPostgres)
		}
		if os.Getenv("ECHT_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL unreachable and ECHT_REQUIRE_POSTGRES=1: %v", err)
		}
		t.Skipf("SKIPPING: PostgreSQL unreachable (%v). Set ECHT_TEST_POSTGRES to a server URL to run this test, or ECHT_REQUIRE_POSTGRES=1 to fail instead of skipping.", err)
	}
	defer conn.Close(ctx)

	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "echt_test_" + hex.EncodeToString(b)
	// The name is ours (lower-case letters, digits, underscore): safe to
	// put into the statement unquoted.
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return withDatabase(t, server, name)
}

// withDatabase returns the connection string server with its database
// replaced by name.
func withDatabase(t testing.TB, server, name string) string {
	if !strings.HasPrefix(server, "postgres://") && !strings.HasPrefix(server, "postgresql://") {
		return server + " dbname=" + name // libpq key=value string: the last value wins
	}
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("ECHT_TEST_POSTGRES: %v", err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}
