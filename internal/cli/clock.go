//go:build !echt_testclock

package cli

import "time"

// clock is the agent's clock. Release builds use the system clock; only a
// binary built with the echt_testclock tag honours a test override.
func clock() func() time.Time { return time.Now }
