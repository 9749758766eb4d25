package cli

import (
	"errors"

	"golang.org/x/sys/windows"
)

// addrInUse reports whether listening failed because the port is taken:
// on Windows the socket error WSAEADDRINUSE, not the syscall package's
// EADDRINUSE (a value of Go's own that no call returns there).
func addrInUse(err error) bool { return errors.Is(err, windows.WSAEADDRINUSE) }
