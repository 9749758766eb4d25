//go:build !linux && !windows && !darwin

package hardware

import (
	"context"
	"errors"
)

// collect is not implemented on this OS.
func collect(context.Context) (Raw, error) {
	return Raw{}, errors.ErrUnsupported
}
