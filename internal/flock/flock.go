// Package flock takes exclusive locks on open files, released when the
// file is closed or the process ends (a crash included).
package flock

import "errors"

// ErrLocked means another holder has the lock (TryLock).
var ErrLocked = errors.New("locked by another process")
