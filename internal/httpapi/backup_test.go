package httpapi_test

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/echt-dev/echt/internal/httpapi"
	"github.com/echt-dev/echt/internal/httpapi/httpapitest"
	"github.com/echt-dev/echt/internal/store/sqlite"
	"github.com/echt-dev/echt/problem"
)

func TestBackup(t *testing.T) {
	srv := httpapitest.Start(t, httpapitest.Options{})
	setupCatalog(t, srv)
	keys := generate(t, srv, "photoedit-pro", 5)
	support := decode[httpapi.TokenView](t, call(t, srv, "POST", "/v1/admin/tokens", srv.AdminToken, map[string]string{"role": "support"})).Token

	r := call(t, srv, "POST", "/v1/admin/backup", srv.AdminToken, nil)
	if r.status != 200 || r.header.Get("Content-Type") != httpapi.BackupContentType || !bytes.HasPrefix(r.body, []byte("SQLite format 3\x00")) {
		t.Fatalf("backup = %d %q, %d bytes starting %q", r.status, r.header.Get("Content-Type"), len(r.body), r.body[:min(len(r.body), 16)])
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, r.body, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	var products, nkeys int
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	if err := db.QueryRow(`SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM product_keys)`).Scan(&products, &nkeys); err != nil || products != 1 || nkeys != len(keys) {
		t.Fatalf("backup has %d products, %d keys (%v); want 1, %d", products, nkeys, err, len(keys))
	}
	// The temporary file is gone, and the backup is in the audit log.
	dir := filepath.Dir(srv.Store.(*sqlite.Store).Path())
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".backup-") {
			t.Errorf("temporary backup file %s left in the data directory", e.Name())
		}
	}
	audit := decode[[]httpapi.AuditView](t, call(t, srv, "GET", "/v1/admin/audit?action=store.backup", srv.AdminToken, nil))
	if len(audit) != 1 {
		t.Errorf("audit has %d store.backup entries, want 1", len(audit))
	}

	if r := call(t, srv, "POST", "/v1/admin/backup", support, nil); r.status != 403 || r.problem(t).Code != problem.Forbidden {
		t.Errorf("backup with a support token = %d %s, want 403", r.status, r.body)
	}
	if r := call(t, srv, "POST", "/v1/admin/backup", "", nil); r.status != 401 {
		t.Errorf("backup without a token = %d, want 401", r.status)
	}
}
