package text

import (
	"strings"
	"testing"

	"github.com/echt-dev/echt/problem"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		s  string
		ok bool
	}{
		{"PhotoEdit", true},
		{strings.Repeat("Ф", 10), true}, // 20 bytes, 10 characters
		{strings.Repeat("Ф", 11), false},
		{"", true},
		{"a\nb", false},
		{"a\tb", false},
		{"\x1b[31mred", false},
		{"a\x00b", false},
		{"\xff", false},
		{"naïve café", true},
		{"photo\u202etxt.exe", false},
		{"a\u2028b", false},
		{"\u200dok", true}, // a zero-width joiner belongs to some scripts and emoji
	} {
		err := Check("name", tc.s, 10)
		if (err == nil) != tc.ok || (err != nil && problem.CodeOf(err) != problem.InvalidRequest) {
			t.Errorf("Check(%q) = %v; want ok %v", tc.s, err, tc.ok)
		}
	}
}
