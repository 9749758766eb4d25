package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
)

// A request whose client hung up is recorded as 499, not as a server
// error; a cancellation while the client is still there stays an error.
func TestClientGoneIsNotAServerError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("POST", "/v1/activations", nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	(&Server{}).fail(rec, r, fmt.Errorf("store: %w", context.Canceled))
	if rec.Code != statusClientClosed || rec.Body.Len() != 0 {
		t.Fatalf("client gone: %d %q; want 499 and no body", rec.Code, rec.Body.String())
	}
	if clientGone(httptest.NewRequest("GET", "/", nil), context.Canceled) || clientGone(r, errors.New("other")) {
		t.Fatal("clientGone without a cancelled request, or without a cancellation")
	}
}
