package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/echt-dev/echt/internal/httpapi/httpapitest"
	"github.com/echt-dev/echt/internal/keyring"
	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/internal/store/sqlite"
)

// failingKeys is a real store whose reads of the signing keys fail while
// failing is set: the database gone for a moment, as a node sees it.
type failingKeys struct {
	store.Store
	failing atomic.Bool
}

func (f *failingKeys) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	if f.failing.Load() {
		return nil, errors.New("connection terminated")
	}
	return f.Store.SigningKeys(ctx)
}

// A node that could not reload the keyring after another node rotated it
// keeps trying, is not ready meanwhile, and then signs with the new key.
func TestKeyringReloadIsRetried(t *testing.T) {
	ctx := context.Background()
	raw, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "echt.db")})
	if err != nil {
		t.Fatal(err)
	}
	st := &failingKeys{Store: raw}
	srv := httpapitest.Start(t, httpapitest.Options{Store: st})
	current := func() string {
		resp, err := http.Get(srv.URL + "/v1/signing-keys")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct{ Current string }
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v.Current
	}
	ready := func() int {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// Another node rotates while this one cannot read the keys.
	other, err := keyring.Load(ctx, raw, srv.Master)
	if err != nil {
		t.Fatal(err)
	}
	st.failing.Store(true)
	rotated, err := other.Rotate(ctx, raw, store.AuditEntry{At: time.Now(), Actor: "other node", Action: "keyring.rotate"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ready() != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("the node stayed ready with a keyring it could not reload")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if current() == rotated.KeyID {
		t.Fatal("the new key is current although the keys could not be read")
	}

	st.failing.Store(false)
	deadline = time.Now().Add(10 * time.Second)
	for current() != rotated.KeyID || ready() != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("after the database came back: current key %s, want %s; readyz %d", current(), rotated.KeyID, ready())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
