// Package text checks the short human-written texts the API stores and
// shows (names, editions, descriptions, reasons).
package text

import (
	"unicode"
	"unicode/utf8"

	"github.com/echt-dev/echt/problem"
)

// Check returns an INVALID_REQUEST problem naming field when s is not
// valid UTF-8, holds a control character (a line break, a terminal
// escape, NUL, a direction override), or is longer than max characters (not bytes).
func Check(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return problem.Newf(problem.InvalidRequest, "%s: not valid UTF-8 text", field)
	}
	for _, r := range s {
		// Bidirectional overrides and isolates reorder what a terminal or
		// log shows (U+202E makes "exe.txt" read "txt.exe"); line and
		// paragraph separators break lines like a newline.
		if unicode.IsControl(r) || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x2028 || r == 0x2029 {
			return problem.Newf(problem.InvalidRequest, "%s: no control characters (line breaks, tabs, escapes, direction overrides)", field)
		}
	}
	if n := utf8.RuneCountInString(s); n > max {
		return problem.Newf(problem.InvalidRequest, "%s: at most %d characters, not %d", field, max, n)
	}
	return nil
}
