//go:build !(unix && !aix) && !windows

package flock

import (
	"errors"
	"os"
)

// Lock is not supported on this platform.
func Lock(f *os.File) error { return errors.ErrUnsupported }

// TryLock is not supported on this platform.
func TryLock(f *os.File) error { return errors.ErrUnsupported }
