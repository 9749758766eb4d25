// Package httpapitest starts a real echt server on loopback over a fresh
// SQLite store, for tests of the API, the SDK and the CLI.
package httpapitest

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/echt-dev/echt/internal/auth"
	"github.com/echt-dev/echt/internal/httpapi"
	"github.com/echt-dev/echt/internal/keyring"
	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/internal/store/sqlite"
)

// Server is a running test server.
type Server struct {
	*httptest.Server
	API        *httpapi.Server
	Store      store.Store
	Keyring    *keyring.Keyring
	AdminToken string
	Master     *keyring.MasterKey
}

// Options tune Start.
type Options struct {
	Config httpapi.Config
	// Store, if set, is used instead of a fresh SQLite store.
	Store store.Store
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
}

// Start runs a server until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	ctx := context.Background()
	st := opts.Store
	if st == nil {
		s, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "echt.db")})
		if err != nil {
			t.Fatal(err)
		}
		st = s
	}
	master, err := keyring.ParseMasterKey(keyring.GenerateMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	secrets, keys, err := keyring.Initial(master, now)
	if err != nil {
		t.Fatal(err)
	}
	token, rec := auth.Mint(auth.Admin, "test admin", now)
	if _, err := st.Bootstrap(ctx, store.Bootstrap{Secrets: secrets, SigningKeys: keys, Token: rec, Audit: store.AuditEntry{At: now, Actor: "system", Action: "bootstrap"}}); err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.Load(ctx, st, master)
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(opts.Config, httpapi.Deps{Store: st, Keyring: kr, Logger: opts.Logger})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	go api.Watch(wctx)
	ts := httptest.NewServer(api.Handler())
	t.Cleanup(func() {
		ts.Close()
		cancel()
		api.Close()
		st.Close()
	})
	return &Server{Server: ts, API: api, Store: st, Keyring: kr, AdminToken: token, Master: master}
}
