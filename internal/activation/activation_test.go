package activation

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/echt-dev/echt/internal/hardware"
	"github.com/echt-dev/echt/internal/store"
	"github.com/echt-dev/echt/problem"
)

func TestDecide(t *testing.T) {
	now := time.Now()
	salt := []byte("s")
	pcA := hardware.Raw{SystemUUID: "a", MACs: []string{"02:00:00:00:00:01"}}.Hash(salt)
	pcB := hardware.Raw{SystemUUID: "b", MACs: []string{"02:00:00:00:00:02"}}.Hash(salt)
	profA, _ := json.Marshal(pcA)
	keyA := []byte("key-a")
	onA := store.Activation{ID: "act_a", KeyHash: keyA, Profile: profA, Status: store.StatusActive}
	retail := store.SKU{Channel: "retail", Policy: store.Policy{MaxDevices: 1, Tolerance: 4}}
	oem := store.SKU{Channel: "oem", Policy: store.Policy{MaxDevices: 1, Tolerance: 4}}
	mak := store.SKU{Channel: "volume-mak", Policy: store.Policy{MaxDevices: 2, Tolerance: 4}}
	sub := store.SKU{Channel: "subscription", Policy: store.Policy{MaxDevices: 1, ValidDays: 30, Tolerance: 4}}
	onU := store.Activation{ID: "act_u", KeyHash: []byte("key-u"), Profile: profA, Status: store.StatusActive, CreatedAt: now}
	fresh := func(prior string) *store.Activation { return &store.Activation{ID: "new", PriorID: prior} }
	tests := []struct {
		name     string
		key      store.Key
		cands    []store.Activation
		sku      store.SKU
		hw       hardware.Profile
		want     problem.Code // "" for a decision
		existing string
		prior    string
		replaced string
	}{
		{"first activation", store.Key{Hash: keyA}, nil, retail, pcA, "", "", "", ""},
		{"same device again", store.Key{Hash: keyA, ActiveActivations: 1, Activations: 1}, []store.Activation{onA}, retail, pcA, "", "act_a", "", ""},
		{"another device, retail", store.Key{Hash: keyA, ActiveActivations: 1, Activations: 1}, nil, retail, pcB, problem.KeyInUseElsewhere, "", "", ""},
		{"retail after deactivation", store.Key{Hash: keyA, ActiveActivations: 0, Activations: 1}, nil, retail, pcB, "", "", "", ""},
		{"OEM never moves", store.Key{Hash: keyA, ActiveActivations: 1, Activations: 1}, nil, oem, pcB, problem.KeyInUseElsewhere, "", "", ""},
		{"OEM after the publisher revoked its activation", store.Key{Hash: keyA, ActiveActivations: 0, Activations: 1}, nil, oem, pcA, "", "", "", ""},
		{"MAK limit", store.Key{Hash: keyA, ActiveActivations: 2, Activations: 2}, nil, mak, pcB, problem.ActivationLimitReached, "", "", ""},
		{"blocked", store.Key{Hash: keyA, Blocked: true, BlockReason: "counterfeit"}, nil, retail, pcA, problem.KeyBlocked, "", "", ""},
		{"another key on this device: the repair case", store.Key{Hash: []byte("key-b")}, []store.Activation{onA}, retail, pcA, "", "", "act_a", ""},
		{"another key replacing this device's license: an upgrade", store.Key{Hash: []byte("key-b")}, []store.Activation{onA}, retail, pcA, "", "", "", "act_a"},
		{"a second upgrade: the newest original is replaced", store.Key{Hash: []byte("key-b")}, []store.Activation{onA, onU}, retail, pcA, "", "", "", "act_u"},
		{"a repair after an upgrade names the newest original", store.Key{Hash: []byte("key-b")}, []store.Activation{onU, onA}, retail, pcA, "", "", "act_u", ""},
		{"expired subscription key cannot start again", store.Key{Hash: keyA, Activations: 1, NotAfter: now.Add(-time.Hour)}, nil, sub, pcB, problem.LicenseExpired, "", "", ""},
		{"subscription moves within its validity", store.Key{Hash: keyA, Activations: 1, NotAfter: now.Add(time.Hour)}, nil, sub, pcB, "", "", "", ""},
	}
	for _, tt := range tests {
		d, err := decide(tt.key, tt.cands, tt.sku, tt.hw, tt.replaced, "", now, fresh)
		if tt.want != "" {
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Code != tt.want {
				t.Errorf("%s: decide = %+v, %v; want %s", tt.name, d, err, tt.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: decide = %v", tt.name, err)
			continue
		}
		if d.Existing != tt.existing || (tt.existing == "" && (d.New == nil || d.New.PriorID != tt.prior)) {
			t.Errorf("%s: decide = %+v (new %+v), want existing %q prior %q", tt.name, d, d.New, tt.existing, tt.prior)
		}
	}
}
