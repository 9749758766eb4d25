package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
)

// Backup writes a consistent copy of the database (the state of one read
// transaction) to the new or empty file dst with VACUUM INTO. It runs on a
// read-only connection of its own, so writes go on meanwhile.
func (s *Store) Backup(ctx context.Context, dst string) error {
	defer s.awaitDurable() // the copy holds nothing a power loss could take back
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(s.path)+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("sqlite backup: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("sqlite backup to %s: %w", dst, wrapErr(err))
	}
	return nil
}
