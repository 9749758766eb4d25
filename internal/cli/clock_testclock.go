//go:build echt_testclock

package cli

import (
	"os"
	"time"
)

// clock honours ECHT_TEST_CLOCK_OFFSET (a Go duration added to the system
// clock) in binaries built with -tags echt_testclock, for end-to-end tests
// of clock tampering. Release builds never contain this file.
func clock() func() time.Time {
	d, err := time.ParseDuration(os.Getenv("ECHT_TEST_CLOCK_OFFSET"))
	if err != nil || d == 0 {
		return time.Now
	}
	return func() time.Time { return time.Now().Add(d) }
}
