package store_test

import (
	"strings"
	"testing"

	"github.com/echt-dev/echt/internal/store"
)

// Database passwords never reach logs or error messages, wherever the
// connection string carries them.
func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://app:s3cret@db:5432/echt", "postgres://app:REDACTED@db:5432/echt"},
		{"postgres://app:s3cret@db/echt?sslmode=disable&password=p2secret", "postgres://app:REDACTED@db/echt?password=REDACTED&sslmode=disable"},
		{"postgres://db/echt?PASSWORD=p3secret&sslpassword=p4secret", "postgres://db/echt?PASSWORD=REDACTED&sslpassword=REDACTED"},
		{"host=127.0.0.1 password=kvsecret dbname=x", "host=127.0.0.1 password=REDACTED dbname=x"},
		{"host=db password = 'kv secret' dbname=x", "host=db password = REDACTED dbname=x"},
		{"postgres://db:5432/echt?password=p@ssword5", "postgres://db:5432/echt?password=REDACTED"},
		{"postgres://db/echt?passwor%64=secret6", "postgres://db/echt?password=REDACTED"},
		{`host=db password='it\'s secret7' dbname=x`, "host=db password=REDACTED dbname=x"},
		{"postgres://app:s3cret@db:5432/echt?x=%zz", "postgres://app:REDACTED@db:5432/echt?x=%zz"},
		{"postgres://app:s3%zzcret@db/echt", "postgres://REDACTED"},
		{"postgres://app@db/echt", "postgres://app@db/echt"},
		{"postgres://db/echt?user=app", "postgres://db/echt?user=app"},
	} {
		got := store.RedactURL(tc.in)
		if got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		for _, secret := range []string{"s3cret", "p2secret", "p3secret", "p4secret", "kvsecret", "kv secret", "ssword5", "secret6", "secret7", "s3%zzcret"} {
			if strings.Contains(got, secret) {
				t.Errorf("RedactURL(%q) leaks %q: %q", tc.in, secret, got)
			}
		}
	}
}
