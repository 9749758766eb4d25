package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/echt-dev/echt/internal/flock"
)

// lockDataDir makes sure one echt serve at a time uses a SQLite data
// directory: a second server on the same database would keep caches that
// the first one's writes never invalidate. The lock file names the holder's
// process id.
func lockDataDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, "serve.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the data directory: %w", err)
	}
	if err := flock.TryLock(f); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, flock.ErrLocked) {
			holder := ""
			if pid := strings.TrimSpace(string(b)); pid != "" {
				holder = " (process " + pid + ")"
			}
			return nil, fmt.Errorf("the data directory %s is in use by another echt serve%s: stop that one first, or give this one another --data (with SQLite, one server per data directory; several nodes need PostgreSQL, see docs/operations.md)", dir, holder)
		}
		return nil, fmt.Errorf("lock the data directory: %w", err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
}
