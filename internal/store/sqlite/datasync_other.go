//go:build !linux

package sqlite

import "os"

// datasync flushes a file to stable storage (F_FULLFSYNC on macOS,
// FlushFileBuffers on Windows).
func datasync(f *os.File) error { return f.Sync() }
