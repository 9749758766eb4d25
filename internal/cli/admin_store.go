package cli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/internal/store/sqlite"
	"github.com/echt-dev/echt/internal/store/storecopy"
	"github.com/echt-dev/echt/problem"
)

// dbCmd is `echt admin db`: commands that work on the database itself,
// not through a server.
func (e *env) dbCmd(g *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "Move an installation's database from SQLite to PostgreSQL"}
	var from, to string
	cp := &cobra.Command{
		Use:   "copy --from DIR --to postgres://...",
		Short: "Copy a whole SQLite installation into an empty PostgreSQL database, and verify the copy",
		Long: `Copy a whole SQLite installation (keys, activations, keyring, tokens, audit
log, everything) into an empty PostgreSQL database, then verify it.

The source is the data directory of an echt server (DATA/echt.db); the server
may keep running: the copy is the snapshot of one read transaction. The target
is migrated first and must hold no rows at all. Everything is copied in one
transaction and read back before it commits: per table, the row count and a
SHA-256 checksum over the rows must match the source's, or nothing is kept.
Audit sequence numbers are kept.

Signing keys and secrets are copied sealed, as they are: run every PostgreSQL
node with this installation's master key (--master-key-file DIR/master.key).
Admin tokens keep working.

--from defaults to ECHT_DATA, --to to ECHT_DB.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if from == "" {
				from = e.getenv("ECHT_DATA")
			}
			if to == "" {
				to = e.getenv("ECHT_DB")
			}
			if from == "" || to == "" {
				return usagef("db copy needs --from DIR (the SQLite data directory) and --to postgres://... (an empty database)")
			}
			if !strings.HasPrefix(to, "postgres://") && !strings.HasPrefix(to, "postgresql://") {
				return usagef("--to %q: use a postgres:// URL", store.RedactURL(to))
			}
			return e.copyDB(c.Context(), g, from, to)
		},
	}
	cp.Flags().StringVar(&from, "from", "", "data directory of the SQLite installation, or its echt.db (default ECHT_DATA)")
	cp.Flags().StringVar(&to, "to", "", "PostgreSQL database to copy into, postgres://...; it must be empty (default ECHT_DB)")
	cmd.AddCommand(cp)
	return cmd
}

func (e *env) copyDB(ctx context.Context, g *adminFlags, from, to string) error {
	src, dir := from, from
	fi, err := os.Stat(from)
	switch {
	case err != nil:
		return usagef("--from %s: %v: give the SQLite installation's data directory (the --data of echt serve, ./echt-data by default) or its %s", from, errors.Unwrap(err), sqlite.FileName)
	case fi.IsDir():
		src = filepath.Join(from, sqlite.FileName)
		if _, err := os.Stat(src); err != nil {
			return usagef("--from %s holds no %s: give the data directory of a SQLite installation (the --data of echt serve)", from, sqlite.FileName)
		}
	default:
		dir = filepath.Dir(from)
	}
	fmt.Fprintf(e.stderr, "echt: copying %s to %s\n", src, store.RedactURL(to))
	rep, err := storecopy.Copy(ctx, storecopy.Config{Source: src, Target: to, Progress: func(table string, rows int64) {
		fmt.Fprintf(e.stderr, "  copied %-20s %d rows\n", table, rows)
	}})
	if rep.Tables != nil {
		if g.json {
			if perr := e.printJSON(rep); perr != nil {
				return perr
			}
		} else {
			rows := [][]string{}
			for _, t := range rep.Tables {
				state := "ok"
				if !t.OK() {
					state = "MISMATCH"
				}
				rows = append(rows, []string{t.Table, strconv.FormatInt(t.SourceRows, 10), strconv.FormatInt(t.TargetRows, 10), state, t.TargetSHA256[:min(16, len(t.TargetSHA256))]})
			}
			e.table("TABLE\tSQLITE ROWS\tPOSTGRESQL ROWS\tCHECKSUM\tSHA-256", rows)
		}
	}
	var hint string
	if err != nil {
		hint, _ = postgresOpenHint(err, "--to")
	}
	switch {
	case errors.Is(err, storecopy.ErrMismatch) && g.json:
		fmt.Fprintln(e.stderr, "echt: verification failed: the copy differs from the source; nothing was kept, the target is still empty")
		return exitError{code: exitFailure} // the report above says which tables
	case errors.Is(err, storecopy.ErrMismatch):
		return fmt.Errorf("verification failed: the copy differs from the source (see the tables marked MISMATCH); nothing was kept, the target is still empty")
	case errors.Is(err, storecopy.ErrTargetForeign):
		return problem.Wrap(problem.Conflict, "refusing to copy: "+err.Error(), err).With("hint", "copy into a new database made for echt (createdb NAME), not one another application uses")
	case errors.Is(err, storecopy.ErrTargetNotEmpty):
		return problem.Wrap(problem.Conflict, "refusing to copy: "+err.Error(), err).With("hint", "copy into a new, empty database made for echt (createdb NAME); the database named may be a live installation, so nothing there is changed")
	case err != nil && strings.HasPrefix(err.Error(), "open target") && hint != "":
		return fmt.Errorf("copy: %w (%s)", err, hint)
	case err != nil:
		return fmt.Errorf("copy: %w", err)
	}
	key := "the master key this installation was started with (ECHT_MASTER_KEY or --master-key-file)"
	if _, err := os.Stat(filepath.Join(dir, "master.key")); err == nil {
		key = "its master key: --master-key-file " + filepath.Join(dir, "master.key")
	}
	fmt.Fprintf(e.stderr, "echt: copied and verified %d rows in %d tables in %s: row counts and SHA-256 checksums match.\n", rep.Rows, len(rep.Tables), rep.Duration.Round(time.Millisecond))
	fmt.Fprintf(e.stderr, "echt: signing keys and secrets were copied sealed: start every PostgreSQL node with %s\n", key)
	return nil
}

// backupCmd is `echt admin backup`.
func (e *env) backupCmd(g *adminFlags, client func() *apiClient) *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Make a consistent online backup of the server's SQLite database",
		Long: `Make a consistent online backup of the server's SQLite database: the server
copies it with VACUUM INTO (it keeps serving meanwhile) and sends it; FILE is
written with mode 0600 and appears only once complete and checked. Needs an
admin token. FILE is a SQLite database: to restore, stop the server and put
it in place of DATA/echt.db. A server on PostgreSQL refuses: use pg_dump.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if out == "" {
				return usagef("backup needs --out FILE")
			}
			if out == "-" {
				return usagef("--out -: a backup is a SQLite database written to a file, not to standard output; name the file, for example echt-backup.db")
			}
			if fi, err := os.Lstat(out); err == nil {
				switch {
				case fi.IsDir():
					return usagef("--out %s is a directory: name the backup file, for example %s", out, filepath.Join(out, "echt-backup.db"))
				case !fi.Mode().IsRegular():
					// --force replaces a file; a device, a pipe or a
					// link is never swapped for one.
					return usagef("--out %s is not a regular file (%s): name a new file or an existing backup file", out, fileKind(fi.Mode()))
				case !force:
					return usagef("--out %s exists: choose another file, or pass --force to replace it", out)
				}
				// A database in use (in WAL mode it has these beside it):
				// replacing it under its server would lose or corrupt
				// what the server writes next, --force or not.
				for _, side := range []string{"-wal", "-shm"} {
					if _, err := os.Lstat(out + side); err == nil {
						return usagef("--out %s is a database in use (%s is beside it; or left by a server that did not stop cleanly): a backup never replaces a live database; write it to another file, and to restore one, stop the server first (docs/operations.md)", out, out+side)
					}
				}
			} else if dir := filepath.Dir(out); !isDir(dir) {
				return usagef("--out %s: %s is not a directory this user can reach: create it first or name a file in an existing directory", out, dir)
			}
			// A signal cancels the download, so that the partial file is
			// removed; the exit status is 128 + the signal's number.
			ctx, cancel := context.WithCancel(c.Context())
			defer cancel()
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sigs)
			var got atomic.Value
			go func() {
				select {
				case s := <-sigs:
					got.Store(s)
					cancel()
				case <-ctx.Done():
				}
			}()
			err := e.backup(ctx, g, client(), out)
			if s, ok := got.Load().(os.Signal); ok && err != nil {
				fmt.Fprintf(e.stderr, "echt: backup interrupted: nothing was written to %s\n", out)
				code := exitInterrupted
				if s == syscall.SIGTERM {
					code = 128 + 15
				}
				return exitError{code: code}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the backup to (a SQLite database, mode 0600)")
	cmd.Flags().BoolVar(&force, "force", false, "replace --out if it exists")
	return cmd
}

// isDir reports whether path is a directory (following links).
func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// fileKind names what a file that is not a regular one is.
func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "not a plain file"
}

func (e *env) backup(ctx context.Context, g *adminFlags, c *apiClient, out string) error {
	start := time.Now()
	// Where the backup goes is checked before the server makes one.
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return fmt.Errorf("cannot write a backup to %s: %w (choose an --out in a directory that exists and you can write)", out, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close() // writeBackup closes it on success
	req, err := http.NewRequestWithContext(ctx, "POST", c.server+"/v1/admin/backup", nil)
	if err != nil {
		return usagef("--server %q: %v", c.server, err)
	}
	req.Header.Set("User-Agent", "echt-cli/"+Version)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	// No overall timeout: a large database takes a while.
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return unreachable(c.server, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return c.failure(resp)
	}
	n, err := writeBackup(tmp, resp.Body, resp.ContentLength, out)
	if err != nil {
		return err
	}
	took := time.Since(start)
	if g.json {
		return e.printJSON(map[string]any{"out": out, "bytes": n, "seconds": took.Seconds()})
	}
	fmt.Fprintf(e.stdout, "wrote a backup of %d bytes to %s in %s\n", n, out, took.Round(time.Millisecond))
	return nil
}

// writeBackup writes r to tmp, a temporary file beside out, checks that it
// is complete and an intact SQLite database, and renames it to out.
func writeBackup(tmp *os.File, r io.Reader, size int64, out string) (int64, error) {
	dir := filepath.Dir(out)
	n, err := io.Copy(tmp, r)
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("got %d of %d bytes", n, size)
	}
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("write backup: %w", err)
	}
	if err := checkSQLite(tmp.Name()); err != nil {
		return 0, fmt.Errorf("the backup received is damaged (%w); %s was not written", err, out)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return 0, fmt.Errorf("write backup: %w", err)
	}
	syncDir(dir)
	return n, nil
}

// checkSQLite runs SQLite's quick_check on the database file path.
func checkSQLite(path string) error {
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA quick_check`).Scan(&res); err != nil {
		return err
	}
	if res != "ok" {
		return fmt.Errorf("quick_check: %s", res)
	}
	return nil
}
