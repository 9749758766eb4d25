package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"testing"
)

// A TLS failure is a configuration error (stop at once), an outage is not.
func TestTLSTrouble(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("connect: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), true},
		{fmt.Errorf("connect: %w", x509.HostnameError{Host: "db"}), true},
		{errors.New("failed to connect: server refused TLS connection"), true},
		{fmt.Errorf("connect: %w", io.ErrUnexpectedEOF), false},
		{errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"), false},
	} {
		if got := tlsTrouble(tc.err); got != tc.want {
			t.Errorf("tlsTrouble(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestMaintenanceDB(t *testing.T) {
	for url, want := range map[string]string{
		"postgres://postgres@127.0.0.1:5432/postgres":                   "postgres",
		"postgres://u@h/template1?sslmode=disable":                      "template1",
		"postgres://postgres@127.0.0.1:5432/echt":                       "",
		"postgresql://u:p@db.example.com/echt_prod?sslmode=verify-full": "",
	} {
		if got := maintenanceDB(url); got != want {
			t.Errorf("maintenanceDB(%q) = %q, want %q", url, got, want)
		}
	}
}
