package cli_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/echt-dev/echt/internal/api"
	"github.com/echt-dev/echt/internal/cli/clitest"
	"github.com/echt-dev/echt/internal/hardware"
	"github.com/echt-dev/echt/internal/store/storecopy"
	"github.com/echt-dev/echt/internal/store/storetest"
)

// An installation outgrows SQLite: it is backed up and copied while its
// server keeps serving, and a server on the PostgreSQL copy, with the same
// master key, honours what the SQLite server issued: licenses, blocks,
// activations and admin tokens.
func TestMoveToPostgres(t *testing.T) {
	dbURL := storetest.PostgresURL(t)
	s := clitest.StartServer(t, "", nil)
	setupProduct(t, s, "photoedit-pro", "retail")
	keys := genKeys(t, s, "photoedit-pro", "40")
	c := httpClient()
	salt := productSalt(t, c, s, "photoedit")

	type device struct {
		hw  hardware.Profile
		act api.ActivateResponse
	}
	devices := make([]device, 10)
	for i := range devices {
		devices[i].hw = machine("before-copy", i).Hash(salt)
		r := mustCall(t, c, "POST", s.URL+"/v1/activations", "", activateReq(keys[i], devices[i].hw), http.StatusCreated)
		if err := json.Unmarshal(r.body, &devices[i].act); err != nil {
			t.Fatal(err)
		}
	}
	mustRun(t, s, "admin", "keys", "block", keys[1], "--reason", "leaked")
	validate := func(srv *clitest.Server, d device) string {
		t.Helper()
		var v api.ValidateResponse
		r := mustCall(t, c, "POST", srv.URL+"/v1/validations", "", api.ValidateRequest{License: d.act.License, Hardware: d.hw, Nonce: nonce()}, http.StatusOK)
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Fatal(err)
		}
		return v.Reason
	}
	if got := validate(s, devices[0]); got != "GENUINE" {
		t.Fatalf("validation on SQLite = %s, want GENUINE", got)
	}

	// Backup and copy while devices keep activating.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var loadErr error
	var loadMu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Activations while keys last, then admin writes (each with its
		// audit entry), until the copy is done.
		for i := 10; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var r reply
			var err error
			want := http.StatusCreated
			if i < len(keys) {
				r, err = call(t.Context(), c, "POST", s.URL+"/v1/activations", "", activateReq(keys[i], machine("during-copy", i).Hash(salt)))
			} else {
				r, err = call(t.Context(), c, "POST", s.URL+"/v1/admin/keys/unblock", s.Token, map[string]string{"key": keys[5]})
				want = http.StatusOK
			}
			if err != nil || r.status != want {
				loadMu.Lock()
				loadErr = fmt.Errorf("request during backup and copy = %v, %v", r, err)
				loadMu.Unlock()
				return
			}
		}
	}()

	out := filepath.Join(t.TempDir(), "backup.db")
	mustRun(t, s, "admin", "backup", "--out", out)
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v; want mode 0600", fi, err)
	}
	// An existing file is kept unless --force; a path that cannot be
	// written is refused before the server copies anything.
	if r := clitest.Run(t, s, nil, "admin", "backup", "--out", out); r.Code != 2 || !strings.Contains(r.Stderr, "--force") {
		t.Errorf("backup over an existing file: exit %d, %s", r.Code, r.Stderr)
	}
	if r := clitest.Run(t, s, nil, "admin", "backup", "--out", filepath.Join(t.TempDir(), "no-such-dir", "b.db")); r.Code != 2 || !strings.Contains(r.Stderr, "is not a directory this user can reach") {
		t.Errorf("backup into a missing directory: exit %d, %s", r.Code, r.Stderr)
	}
	// The server's own database is never replaced under it, --force or
	// not: the server would go on writing to the file it has open.
	live := filepath.Join(s.Data, "echt.db")
	before, err := os.Stat(live)
	if err != nil {
		t.Fatal(err)
	}
	if r := clitest.Run(t, s, nil, "admin", "backup", "--out", live, "--force"); r.Code != 2 || !strings.Contains(r.Stderr, "in use") {
		t.Errorf("backup --force over the live database: exit %d, %s", r.Code, r.Stderr)
	}
	if after, err := os.Stat(live); err != nil || !os.SameFile(before, after) {
		t.Errorf("the live database was replaced: %v", err)
	}
	// --force replaces a file, never what is not one (a link here; a
	// device such as /dev/null the same way), and - is no file.
	target := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(target, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if r := clitest.Run(t, s, nil, "admin", "backup", "--out", link, "--force"); r.Code != 2 || !strings.Contains(r.Stderr, "not a regular file (a symbolic link)") {
		t.Errorf("backup --force over a symbolic link: exit %d, %s", r.Code, r.Stderr)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v, %v", fi, err)
	}
	if r := clitest.Run(t, s, nil, "admin", "backup", "--out", "-"); r.Code != 2 || !strings.Contains(r.Stderr, "not to standard output") {
		t.Errorf("backup --out -: exit %d, %s", r.Code, r.Stderr)
	}
	var log []map[string]any
	mustRun(t, s, "admin", "audit", "--json").JSON(t, &log)
	backups := 0
	for _, a := range log {
		if a["action"] == "store.backup" {
			backups++
		}
	}
	if backups != 1 {
		t.Errorf("%d backups in the audit log, want 1 (refused ones are not made)", backups)
	}
	db, err := sql.Open("sqlite", "file:"+out+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var check string
	var acts, blocked int
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("backup integrity_check = %q, %v", check, err)
	}
	if err := db.QueryRow(`SELECT (SELECT count(*) FROM activations), (SELECT count(*) FROM product_keys WHERE blocked = 1)`).Scan(&acts, &blocked); err != nil || acts < len(devices) || blocked != 1 {
		t.Fatalf("backup holds %d activations and %d blocked keys (%v); want at least %d and 1", acts, blocked, err, len(devices))
	}
	db.Close()

	r := clitest.Run(t, s, nil, "admin", "db", "copy", "--from", s.Data, "--to", dbURL)
	close(stop)
	wg.Wait()
	if loadErr != nil {
		t.Error(loadErr)
	}
	if r.Code != 0 {
		t.Fatalf("db copy: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, table := range storecopy.Tables() {
		if !strings.Contains(r.Stdout, table) {
			t.Errorf("db copy report lacks table %s:\n%s", table, r.Stdout)
		}
	}
	if strings.Contains(r.Stdout, "MISMATCH") || strings.Count(r.Stdout, " ok ") != len(storecopy.Tables()) || !strings.Contains(r.Stderr, "--master-key-file "+filepath.Join(s.Data, "master.key")) {
		t.Fatalf("db copy output:\n%s\n%s", r.Stdout, r.Stderr)
	}
	t.Logf("db copy:\n%s%s", r.Stdout, r.Stderr)
	// Once is enough: the target is no longer empty.
	if r := clitest.Run(t, s, nil, "admin", "db", "copy", "--from", s.Data, "--to", dbURL); r.Code == 0 || !strings.Contains(r.Stderr, "not empty") {
		t.Fatalf("second db copy = exit %d %s, want a refusal", r.Code, r.Stderr)
	}

	// A node on the copy started from the old data directory without a
	// master key is told where the installation's key is.
	if r := clitest.Run(t, nil, []string{"ECHT_MASTER_KEY="}, "serve", "--db", dbURL, "--data", s.Data, "--addr", "127.0.0.1:0"); r.Code != 2 || !strings.Contains(r.Stderr, "--master-key-file "+filepath.Join(s.Data, "master.key")) {
		t.Errorf("serve on the copy without a master key = exit %d %s; want a usage error naming %s", r.Code, r.Stderr, filepath.Join(s.Data, "master.key"))
	}
	// A PostgreSQL node with the installation's master key.
	pg := clitest.StartServer(t, "", nil, "--db", dbURL, "--master-key-file", filepath.Join(s.Data, "master.key"))
	if _, err := os.Stat(filepath.Join(pg.Data, "admin-token")); !os.IsNotExist(err) {
		t.Errorf("the PostgreSQL node wrote an admin token (%v); the copied database is initialised", err)
	}
	pg.Token = s.Token // tokens were copied
	if got := validate(pg, devices[0]); got != "GENUINE" {
		t.Fatalf("license issued on SQLite, validated on PostgreSQL = %s, want GENUINE", got)
	}
	if got := validate(pg, devices[1]); got != "KEY_BLOCKED" {
		t.Fatalf("license of a key blocked on SQLite, validated on PostgreSQL = %s, want KEY_BLOCKED", got)
	}
	var again api.ActivateResponse
	_ = json.Unmarshal(mustCall(t, c, "POST", pg.URL+"/v1/activations", "", activateReq(keys[2], devices[2].hw), http.StatusOK).body, &again)
	if again.Reason != "ALREADY_ACTIVATED" || again.ActivationID != devices[2].act.ActivationID {
		t.Fatalf("activation on PostgreSQL of a device activated on SQLite = %s %s, want ALREADY_ACTIVATED %s", again.Reason, again.ActivationID, devices[2].act.ActivationID)
	}
	mustRun(t, pg, "admin", "keys", "show", keys[0])
	var audit []map[string]any
	mustRun(t, pg, "admin", "audit", "--json", "--limit", "1000").JSON(t, &audit)
	if len(audit) == 0 || audit[0]["action"] != "bootstrap" || audit[0]["seq"] != float64(1) {
		t.Fatalf("audit on PostgreSQL starts with %v, want the SQLite bootstrap entry", audit[:min(1, len(audit))])
	}
	// PostgreSQL is backed up with its own tools.
	if r := clitest.Run(t, pg, nil, "admin", "backup", "--out", filepath.Join(t.TempDir(), "x.db")); r.Code == 0 || !strings.Contains(r.Stderr, "pg_dump") {
		t.Fatalf("backup of a PostgreSQL server = exit %d %s, want a refusal naming pg_dump", r.Code, r.Stderr)
	}
}

// A copy whose source or target cannot be used says what to give instead,
// before it touches the target.
func TestCopyNamesWhatIsWrong(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		from, to, want string
		code           int
	}{
		{filepath.Join(empty, "nothing"), "postgres://postgres@127.0.0.1:5432/x", "give the SQLite installation's data directory", 2},
		{empty, "postgres://postgres@127.0.0.1:5432/x", "holds no echt.db", 2},
	} {
		r := clitest.Run(t, nil, nil, "admin", "db", "copy", "--from", tc.from, "--to", tc.to)
		if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("db copy --from %s = %d %q; want exit %d saying %q", tc.from, r.Code, r.Stderr, tc.code, tc.want)
		}
	}
}

// A target PostgreSQL refuses says what to fix about --to, and only that.
func TestCopyTargetErrorsSayWhatToFix(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	u, err := url.Parse(storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	noDB, noRole := *u, *u
	noDB.Path = "/echt_no_such_database"
	noRole.User = url.User("echt_no_such_role")
	for _, tc := range []struct{ to, want string }{
		{noDB.String(), "create the database first"},
		{noRole.String(), "check the user and password in --to"},
		{"postgres://postgres@127.0.0.1:notaport/x", "cannot be read"},
	} {
		r := clitest.Run(t, s, nil, "admin", "db", "copy", "--from", s.Data, "--to", tc.to)
		if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) || strings.Contains(r.Stderr, "must run there") {
			t.Errorf("db copy --to %s = %d %q; want a failure saying %q", tc.to, r.Code, r.Stderr, tc.want)
		}
	}
}
