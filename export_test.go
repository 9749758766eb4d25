package echt

import "time"

// SetRereadHardware sets how long checks trust the hardware they read, for
// a test; it returns the function that restores it.
func SetRereadHardware(d time.Duration) (restore func()) {
	old := rereadHardware
	rereadHardware = d
	return func() { rereadHardware = old }
}

// ParseSignatureHeader is parseSignatureHeader, for the fuzz test.
var ParseSignatureHeader = parseSignatureHeader

// OwnURL is Client.ownURL for a client of server, for a test.
func OwnURL(server, u string) string { return (&Client{cfg: Config{Server: server}}).ownURL(u) }
