package store

import (
	"net/url"
	"regexp"
	"strings"
)

// passwordParam matches a password given in a key=value connection string
// (password=… or password='…', with backslash escapes).
var passwordParam = regexp.MustCompile(`(?i)\b((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)`)

// RedactURL hides the passwords in a database URL or connection string, for
// logs and error messages: the user info's and any password parameter
// (whatever its spelling, as the driver decodes it). What cannot be parsed
// as a URL is treated as key=value pairs.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		if i := strings.Index(s, "://"); i >= 0 {
			// Unparsable as a URL: keep only the scheme.
			return s[:i+3] + "REDACTED"
		}
		return passwordParam.ReplaceAllString(s, "${1}REDACTED")
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	q := u.Query()
	changed := false
	for k := range q {
		if lk := strings.ToLower(k); lk == "password" || lk == "sslpassword" {
			q[k] = []string{"REDACTED"}
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}
