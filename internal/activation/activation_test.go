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
	pcA := hardware.Raw{SystemUUID: "a", BoardSerial: "board-a", Disks: []string{"disk-a"}, MACs: []string{"02:00:00:00:00:01"}}.Hash(salt)
	// The same device as others on the network see it: its MAC and UUID.
	seenFromOutside, _ := json.Marshal(hardware.Raw{SystemUUID: "a", MACs: []string{"02:00:00:00:00:01"}}.Hash(salt))
	pcB := hardware.Raw{SystemUUID: "b", MACs: []string{"02:00:00:00:00:02"}}.Hash(salt)
	profA, _ := json.Marshal(pcA)
	keyA := []byte("key-a")
	retail := store.SKU{ID: "home", Edition: "Home", Channel: "retail", Policy: store.Policy{MaxDevices: 1, Tolerance: 4}}
	pro := store.SKU{ID: "pro", Edition: "Pro", Channel: "retail", Policy: store.Policy{MaxDevices: 1, Tolerance: 4}}
	oem := store.SKU{ID: "home-oem", Edition: "Home", Channel: "oem", Policy: store.Policy{MaxDevices: 1, Tolerance: 4}}
	mak := store.SKU{ID: "home-mak", Edition: "Home", Channel: "volume-mak", Policy: store.Policy{MaxDevices: 2, Tolerance: 4}}
	sub := store.SKU{ID: "home-sub", Edition: "Home", Channel: "subscription", Policy: store.Policy{MaxDevices: 1, ValidDays: 30, Tolerance: 4}}
	trial := store.SKU{ID: "home-trial", Edition: "home", Channel: "trial", Policy: store.Policy{MaxDevices: 1, ValidDays: 30, Tolerance: 4}}
	skus := map[string]store.SKU{}
	for _, k := range []store.SKU{retail, pro, oem, mak, sub, trial} {
		skus[k.ID] = k
	}
	onA := store.Activation{ID: "act_a", KeyHash: keyA, SKUID: "home", Profile: profA, Status: store.StatusActive}
	onU := store.Activation{ID: "act_u", KeyHash: []byte("key-u"), SKUID: "home", Profile: profA, Status: store.StatusActive, CreatedAt: now}
	onOEM := store.Activation{ID: "act_o", KeyHash: []byte("key-o"), SKUID: "home-oem", Profile: profA, Status: store.StatusActive}
	onSub := store.Activation{ID: "act_s", KeyHash: []byte("key-s"), SKUID: "home-sub", Profile: profA, Status: store.StatusActive, NotAfter: now.Add(time.Hour)}
	onTrial := store.Activation{ID: "act_t", KeyHash: []byte("key-t"), SKUID: "home-trial", Profile: profA, Status: store.StatusActive, NotAfter: now.Add(time.Hour)}
	onThin := store.Activation{ID: "act_thin", KeyHash: []byte("key-thin"), SKUID: "home", Profile: seenFromOutside, Status: store.StatusActive}
	onUnknown := store.Activation{ID: "act_x", KeyHash: []byte("key-x"), SKUID: "gone", Profile: profA, Status: store.StatusActive}
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
		{"another key of the same edition after an OEM one: the repair case", store.Key{Hash: []byte("key-b")}, []store.Activation{onOEM}, retail, pcA, "", "", "act_o", ""},
		{"a subscription after a perpetual licence: the repair case", store.Key{Hash: []byte("key-b")}, []store.Activation{onA}, sub, pcA, "", "", "act_a", ""},
		{"a key of another edition: a purchase, no repair", store.Key{Hash: []byte("key-b")}, []store.Activation{onA}, pro, pcA, "", "", "", ""},
		{"a volume licence over an OEM one: no repair", store.Key{Hash: []byte("key-b")}, []store.Activation{onOEM}, mak, pcA, "", "", "", ""},
		{"a perpetual licence after a subscription: no repair", store.Key{Hash: []byte("key-b")}, []store.Activation{onSub}, retail, pcA, "", "", "", ""},
		{"a subscription key with an end after another subscription: the repair case", store.Key{Hash: []byte("key-b"), NotAfter: now.Add(time.Hour)}, []store.Activation{onSub}, sub, pcA, "", "", "act_s", ""},
		{"a purchase after a trial: no repair", store.Key{Hash: []byte("key-b")}, []store.Activation{onTrial}, retail, pcA, "", "", "", ""},
		{"an original of an unknown SKU: the repair case", store.Key{Hash: []byte("key-b")}, []store.Activation{onUnknown}, retail, pcA, "", "", "act_x", ""},
		{"another key's activation made of a MAC and UUID alone: no original, no repair", store.Key{Hash: []byte("key-b")}, []store.Activation{onThin}, retail, pcA, "", "", "", ""},
		{"subscription moves within its validity", store.Key{Hash: keyA, Activations: 1, NotAfter: now.Add(time.Hour)}, nil, sub, pcB, "", "", "", ""},
	}
	for _, tt := range tests {
		d, err := decide(tt.key, tt.cands, tt.sku, skus, tt.hw, tt.replaced, "", now, fresh)
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
