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
// escape, NUL), or is longer than max characters (not bytes).
func Check(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return problem.Newf(problem.InvalidRequest, "%s: not valid UTF-8 text", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return problem.Newf(problem.InvalidRequest, "%s: no control characters (line breaks, tabs, escapes)", field)
		}
	}
	if n := utf8.RuneCountInString(s); n > max {
		return problem.Newf(problem.InvalidRequest, "%s: at most %d characters, not %d", field, max, n)
	}
	return nil
}
