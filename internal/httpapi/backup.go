package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/echt-dev/echt/internal/auth"
	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/problem"
)

// permBackup guards database backups. No role but admin is granted it (an
// admin may do everything): a backup holds every record, sealed secrets
// included.
const permBackup auth.Permission = "store:backup"

// BackupContentType is the media type of a backup: a SQLite database file.
const BackupContentType = "application/vnd.sqlite3"

// backupTimeout bounds making a backup, which may take longer than a
// request may.
const backupTimeout = time.Hour

// backuper is a store that writes a consistent copy of itself to a file:
// the SQLite store.
type backuper interface {
	Path() string
	Backup(ctx context.Context, dst string) error
}

// backup makes a consistent online backup of the SQLite database (VACUUM
// INTO a temporary file in the data directory) and streams it back.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	if err := noFields(r); err != nil {
		s.fail(w, r, err)
		return
	}
	b, ok := s.st.(backuper)
	if !ok {
		s.fail(w, r, problem.New(problem.Conflict, "this server keeps its data in PostgreSQL, which echt does not back up: use pg_dump (see docs/operations.md)").With("hint", "back up the PostgreSQL database with pg_dump, as docs/operations.md shows"))
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(b.Path()), ".backup-*.db")
	if err != nil {
		s.fail(w, r, fmt.Errorf("backup: %w", err))
		return
	}
	name := tmp.Name()
	tmp.Close()
	removed := false
	defer func() {
		if !removed {
			os.Remove(name)
		}
	}()
	// A large database takes longer than the request timeout; the client
	// going away still stops the copy once it is made.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), backupTimeout)
	defer cancel()
	start := time.Now()
	if err := b.Backup(ctx, name); err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := os.Open(name)
	if err != nil {
		s.fail(w, r, fmt.Errorf("backup: %w", err))
		return
	}
	defer f.Close()
	// Unlink it now where the system allows an open file to go (the copy
	// is then gone before the client has read the last byte); elsewhere
	// the deferred Remove takes it once the file is closed.
	removed = os.Remove(name) == nil
	fi, err := f.Stat()
	if err != nil {
		s.fail(w, r, fmt.Errorf("backup: %w", err))
		return
	}
	a := store.AuditEntry{At: time.Now().UTC(), Actor: s.principal(r).TokenID, Action: "store.backup",
		Detail: fmt.Sprintf(`{"bytes":%d}`, fi.Size()), RequestID: RequestID(r)}
	if err := s.st.AppendAudit(ctx, a); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("backup", "request_id", RequestID(r), "bytes", fi.Size(), "took", time.Since(start))
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(backupTimeout))
	h := w.Header()
	h.Set("Content-Type", BackupContentType)
	h.Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
	h.Set("Content-Disposition", `attachment; filename="echt-backup-`+time.Now().UTC().Format("20060102T150405Z")+`.db"`)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, f); err != nil {
		s.log.Warn("backup: sending", "request_id", RequestID(r), "error", err)
	}
}
