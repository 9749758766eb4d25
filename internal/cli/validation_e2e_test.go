package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/echt-dev/echt/internal/cli/clitest"
	"github.com/echt-dev/echt/internal/hardware"
	"github.com/echt-dev/echt/problem"
)

type statusOut struct {
	Status       string `json:"status"`
	Reason       string `json:"reason"`
	Product      string `json:"product"`
	Edition      string `json:"edition"`
	PartialKey   string `json:"partial_key"`
	ActivationID string `json:"activation_id"`
	CheckedAt    string `json:"checked_at"`
	NextCheck    string `json:"next_check"`
	ResultsURL   string `json:"results_url"`
	Online       bool   `json:"online"`
	Remedy       *struct {
		ID   string `json:"id"`
		Text string `json:"text"`
	} `json:"remedy"`
}

// device is one simulated PC: a hardware file and a license store.
type device struct {
	t     *testing.T
	s     *clitest.Server
	hw    string
	store string
}

func newDevice(t *testing.T, s *clitest.Server, name string, raw any) *device {
	dir := t.TempDir()
	return &device{t: t, s: s, hw: clitest.WriteJSON(t, dir, name+".json", raw), store: filepath.Join(dir, "store")}
}

func (d *device) run(env []string, args ...string) clitest.Result {
	d.t.Helper()
	return clitest.Run(d.t, d.s, env, append(args, "--hardware", d.hw, "--store", d.store)...)
}

func (d *device) activate(args ...string) activateOut {
	d.t.Helper()
	var out activateOut
	d.run(nil, append([]string{"activate", "--json"}, args...)...).JSON(d.t, &out)
	return out
}

// check runs a status command (status, validate, validate --offline) and
// checks status, reason and exit code.
func (d *device) check(env []string, wantStatus string, wantReason problem.Code, args ...string) statusOut {
	d.t.Helper()
	r := d.run(env, append(args, "--json")...)
	var out statusOut
	r.JSON(d.t, &out)
	if out.Status != wantStatus || out.Reason != string(wantReason) {
		d.t.Fatalf("echt %s = %s %s, want %s %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), out.Status, out.Reason, wantStatus, wantReason, r.Stdout, r.Stderr)
	}
	wantExit := 0
	if wantStatus != "GENUINE" {
		wantExit = wantReason.ExitCode()
	}
	if r.Code != wantExit {
		d.t.Fatalf("echt %s exit = %d, want %d", strings.Join(args, " "), r.Code, wantExit)
	}
	if wantStatus != "GENUINE" && (out.Remedy == nil || out.Remedy.Text == "") {
		d.t.Fatalf("echt %s: no remedy for %s", strings.Join(args, " "), wantReason)
	}
	return out
}

func TestValidationReasons(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	setupProduct(t, s, "photoedit-pro", "retail")
	keys := genKeys(t, s, "photoedit-pro", "6")

	t.Run("grace, then not activated", func(t *testing.T) {
		d := newDevice(t, s, "fresh", pcA())
		d.check(nil, "GRACE", problem.GracePeriod, "status", "--product", "photoedit")
		d.check([]string{"ECHT_TEST_CLOCK_OFFSET=744h"}, "NOT_ACTIVATED", problem.NotActivated, "status", "--product", "photoedit")
	})

	t.Run("genuine online and offline, results page", func(t *testing.T) {
		d := newDevice(t, s, "a", pcA())
		if o := d.activate(keys[0]); o.Reason != "ACTIVATED" {
			t.Fatalf("activate = %+v", o)
		}
		v := d.check(nil, "GENUINE", problem.Genuine, "validate")
		if !v.Online || v.ResultsURL == "" || v.NextCheck == "" || v.CheckedAt == "" || v.PartialKey == "" {
			t.Fatalf("validate = %+v", v)
		}
		d.check(nil, "GENUINE", problem.Genuine, "validate", "--offline")
		page := get(t, v.ResultsURL)
		if !strings.Contains(page, "This copy is genuine") {
			t.Fatalf("results page: %s", page)
		}
		// A link changed by one character shows no verdict at all.
		dot := strings.LastIndex(v.ResultsURL, ".") + 1 // the MAC's first character
		bad, err := http.Get(v.ResultsURL[:dot] + string(otherChar(v.ResultsURL[dot])) + v.ResultsURL[dot+1:])
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(bad.Body)
		bad.Body.Close()
		if bad.StatusCode != http.StatusNotFound || strings.Contains(string(body), "<dl>") {
			t.Fatalf("tampered results link = %d %s", bad.StatusCode, body)
		}
	})

	t.Run("typo and invalid key", func(t *testing.T) {
		d := newDevice(t, s, "b", pcB())
		typo := keys[1][:10] + string(otherChar(keys[1][10])) + keys[1][11:]
		if o := d.activate(typo, "--product", "photoedit"); o.Reason != "KEY_TYPO" {
			t.Fatalf("typo = %+v", o)
		}
		if o := d.activate("BCDFG-HJKMP-QRTVW-XY234-6789B", "--product", "photoedit"); o.Reason != "KEY_INVALID" {
			t.Fatalf("invalid = %+v", o)
		}
	})

	t.Run("blocked key reaches every device at its next validation", func(t *testing.T) {
		d := newDevice(t, s, "c", pcB())
		d.activate(keys[1])
		d.check(nil, "GENUINE", problem.Genuine, "validate")
		mustRun(t, s, "admin", "keys", "block", keys[1], "--reason", "counterfeit")
		v := d.check(nil, "NOT_GENUINE", problem.KeyBlocked, "validate")
		if page := get(t, v.ResultsURL+"?lang=nl"); !strings.Contains(page, "niet legitiem") || !strings.Contains(page, "geblokkeerd") {
			t.Fatalf("Dutch results page: %s", page)
		}
		// Offline, the device keeps knowing.
		d.check(nil, "NOT_GENUINE", problem.KeyBlocked, "status")
		mustRun(t, s, "admin", "keys", "unblock", keys[1])
		d.check(nil, "GENUINE", problem.Genuine, "validate")
	})

	t.Run("license files edited, deleted, damaged", func(t *testing.T) {
		d := newDevice(t, s, "d", pcA())
		d.activate(keys[2])
		lic := filepath.Join(d.store, "photoedit", "license.json")
		orig, _ := os.ReadFile(lic)
		edited := bytes.Replace(orig, []byte(`"kid":"k_`), []byte(`"kid":"k_x`), 1)
		if bytes.Equal(edited, orig) {
			i := len(orig) / 2
			edited = append([]byte{}, orig...)
			edited[i] ^= 1
		}
		os.WriteFile(lic, edited, 0o600)
		d.check(nil, "NOT_GENUINE", problem.LicenseTampered, "status")
		d.check(nil, "NOT_GENUINE", problem.LicenseTampered, "validate")
		// A local finding has no results page: the text links its help page.
		if r := d.run(nil, "validate", "--lang", "nl"); !strings.Contains(r.Stdout, "/help/reasons/LICENSE_TAMPERED?lang=nl") {
			t.Fatalf("validate text lacks the help link: %s", r.Stdout)
		}
		os.Remove(lic)
		d.check(nil, "NOT_GENUINE", problem.LicenseMissing, "status")
		d.check(nil, "NOT_GENUINE", problem.LicenseMissing, "validate")
		// The remedy works: activating without a key restores the license.
		if o := d.activate("--product", "photoedit"); o.Reason != "DIGITAL_LICENSE" {
			t.Fatalf("restore = %+v", o)
		}
		d.check(nil, "GENUINE", problem.Genuine, "validate")
	})

	t.Run("clock set back", func(t *testing.T) {
		d := newDevice(t, s, "e", pcB())
		d.activate(keys[3])
		d.check(nil, "GENUINE", problem.Genuine, "status")
		d.check([]string{"ECHT_TEST_CLOCK_OFFSET=-3h"}, "NOT_GENUINE", problem.ClockTampered, "status")
		d.check([]string{"ECHT_TEST_CLOCK_OFFSET=-3h"}, "NOT_GENUINE", problem.ClockTampered, "validate")
		d.check(nil, "GENUINE", problem.Genuine, "status")
	})

	t.Run("system board swapped", func(t *testing.T) {
		d := newDevice(t, s, "f", pcA())
		d.activate(keys[4])
		swapped := pcA()
		swapped.SystemUUID, swapped.BoardSerial = "0badb0a2-d000-0000-0000-000000000001", "NEWBOARD"
		os.WriteFile(d.hw, mustJSON(swapped), 0o600)
		d.check(nil, "NOT_GENUINE", problem.HardwareChanged, "status")
		d.check(nil, "NOT_GENUINE", problem.HardwareChanged, "validate")
	})

	t.Run("revoked", func(t *testing.T) {
		d := newDevice(t, s, "g", pcB())
		o := d.activate(keys[5])
		if out := mustRun(t, s, "admin", "activations", "revoke", o.ActivationID, "--reason", "refunded").Stdout; strings.Contains(out, "nothing changed") {
			t.Fatalf("first revocation: %s", out)
		}
		d.check(nil, "NOT_GENUINE", problem.ActivationRevoked, "validate")
		if out := mustRun(t, s, "admin", "activations", "revoke", o.ActivationID, "--reason", "refunded").Stdout; !strings.Contains(out, "nothing changed") || !strings.Contains(out, "refunded") {
			t.Fatalf("second revocation: %s", out)
		}
	})
}

func TestLicenseMovedAndExpired(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	setupProduct(t, s, "photoedit-pro", "retail")
	setupProduct(t, s, "photoedit-sub", "subscription", "--valid-days", "1")
	key := genKeys(t, s, "photoedit-pro", "1")[0]
	subKey := genKeys(t, s, "photoedit-sub", "1")[0]

	// 1 licence = 1 PC: a copy of PC-A's license keeps running on PC-A
	// after the key moved to PC-B.
	a := newDevice(t, s, "a", pcA())
	a.activate(key)
	backup := t.TempDir()
	copyDir(t, filepath.Join(a.store, "photoedit"), backup)
	if r := a.run(nil, "deactivate"); r.Code != 0 {
		t.Fatalf("deactivate: %s", r.Stderr)
	}
	b := newDevice(t, s, "b", pcB())
	b.activate(key)
	copyDir(t, backup, filepath.Join(a.store, "photoedit"))
	a.check(nil, "NOT_GENUINE", problem.KeyInUseElsewhere, "validate")

	// A subscription of one day, seen two days later.
	c := newDevice(t, s, "c", pcA())
	if o := c.activate(subKey); o.Reason != "ACTIVATED" {
		t.Fatalf("subscription = %+v", o)
	}
	c.check(nil, "GENUINE", problem.Genuine, "status")
	c.check([]string{"ECHT_TEST_CLOCK_OFFSET=48h"}, "NOT_GENUINE", problem.LicenseExpired, "validate", "--offline")
}

// The repair story: key A, reinstall, a technician activates key B, the
// user re-enters key A and gets the original license back.
func TestRepairStory(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	setupProduct(t, s, "photoedit-pro", "retail")
	keys := genKeys(t, s, "photoedit-pro", "2")
	keyA, keyB := keys[0], keys[1]

	pc := newDevice(t, s, "pc", pcA())
	orig := pc.activate(keyA)
	pc.check(nil, "GENUINE", problem.Genuine, "validate")

	// Repair: reinstall (new store, new OS install id); the technician
	// activates with his own key.
	reinstalled := pcA()
	reinstalled.OSInstallID = "after-repair-0001"
	repaired := newDevice(t, s, "pc-repaired", reinstalled)
	tech := repaired.activate(keyB)
	if tech.Reason != "ACTIVATED" || tech.ActivationID == orig.ActivationID {
		t.Fatalf("technician's activation = %+v", tech)
	}
	v := repaired.check(nil, "NOT_GENUINE", problem.ReactivatedWithOtherKey, "validate")
	// Its results page gives the remedy in the page's language, with the key.
	if page := get(t, v.ResultsURL+"?lang=nl"); !strings.Contains(page, "Voer uw oorspronkelijke productcode opnieuw in") || !strings.Contains(page, keyA[24:]) {
		t.Fatalf("results page in Dutch lacks the Dutch remedy or the key: %s", page)
	}
	if !strings.Contains(v.Remedy.Text, keyA[24:]) {
		t.Fatalf("remedy does not name the original key (…%s): %q", keyA[24:], v.Remedy.Text)
	}
	// The stored verdict, read offline, still names it (in either language).
	for _, lang := range []string{"en", "nl"} {
		if v := repaired.check(nil, "NOT_GENUINE", problem.ReactivatedWithOtherKey, "status", "--lang", lang); !strings.Contains(v.Remedy.Text, keyA[24:]) {
			t.Fatalf("status --lang %s: remedy does not name the original key (…%s): %q", lang, keyA[24:], v.Remedy.Text)
		}
	}
	// The user re-enters the original key: the original license returns.
	back := repaired.activate(keyA)
	if back.Reason != "ALREADY_ACTIVATED" || back.ActivationID != orig.ActivationID {
		t.Fatalf("re-entering key A = %+v, want the original activation %s", back, orig.ActivationID)
	}
	repaired.check(nil, "GENUINE", problem.Genuine, "validate")
	// The technician's key is free again.
	var info map[string]any
	mustRun(t, s, "admin", "keys", "show", keyB, "--json").JSON(t, &info)
	if info["active_activations"].(float64) != 0 {
		t.Fatalf("key B still holds a seat: %v", info)
	}

	// The same repair, undone without the key: the device's digital
	// license is its original one, and the technician's key is free too.
	keyC := genKeys(t, s, "photoedit-pro", "1")[0]
	again := pcA()
	again.OSInstallID = "after-repair-0002"
	second := newDevice(t, s, "pc-repaired-again", again)
	if tech := second.activate(keyC); tech.Reason != "ACTIVATED" {
		t.Fatalf("second technician's activation = %+v", tech)
	}
	if back := second.activate("--product", "photoedit"); back.Reason != "DIGITAL_LICENSE" || back.ActivationID != orig.ActivationID {
		t.Fatalf("digital license after the repair = %+v, want the original activation %s", back, orig.ActivationID)
	}
	second.check(nil, "GENUINE", problem.Genuine, "validate")
	mustRun(t, s, "admin", "keys", "show", keyC, "--json").JSON(t, &info)
	if info["active_activations"].(float64) != 0 {
		t.Fatalf("the technician's key holds a seat after the digital license came back: %v", info)
	}
}

// Not every other key before this one makes a repair: a key blocked as
// counterfeit, or a trial, is no original to go back to, and a purchase
// that supersedes the original (a volume licence over an OEM one, another
// edition, a perpetual licence after a subscription) is no repair. A
// customer who bought a genuine key and reinstalled is genuine, and the
// device's digital license is the purchase's.
func TestNoRepairAfterABlockedKeyATrialOrAnotherPurchase(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	setupProduct(t, s, "photoedit-pro", "retail")
	mustRun(t, s, "admin", "sku", "create", "photoedit-trial", "--product", "photoedit", "--edition", "Pro", "--channel", "trial", "--valid-days", "30")
	mustRun(t, s, "admin", "sku", "create", "photoedit-oem", "--product", "photoedit", "--edition", "Pro", "--channel", "oem")
	mustRun(t, s, "admin", "sku", "create", "photoedit-mak", "--product", "photoedit", "--edition", "Pro", "--channel", "volume-mak", "--max-devices", "3")
	mustRun(t, s, "admin", "sku", "create", "photoedit-home", "--product", "photoedit", "--edition", "Home", "--channel", "retail")
	mustRun(t, s, "admin", "sku", "create", "photoedit-sub", "--product", "photoedit", "--edition", "Pro", "--channel", "subscription")
	keys := genKeys(t, s, "photoedit-pro", "5")
	trial := genKeys(t, s, "photoedit-trial", "1")[0]
	oem := genKeys(t, s, "photoedit-oem", "1")[0]
	mak := genKeys(t, s, "photoedit-mak", "1")[0]
	home := genKeys(t, s, "photoedit-home", "1")[0]
	sub := genKeys(t, s, "photoedit-sub", "1")[0]

	for i, tc := range []struct {
		name        string
		first, then string
		before      func()
	}{
		{"blocked", keys[0], keys[1], func() { mustRun(t, s, "admin", "keys", "block", keys[0], "--reason", "counterfeit") }},
		{"trial", trial, keys[2], func() {}},
		{"volume over OEM", oem, mak, func() {}},
		{"another edition", home, keys[3], func() {}},
		{"perpetual after a subscription", sub, keys[4], func() {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hw := pcA()
			hw.SystemUUID, hw.BoardSerial = fmt.Sprintf("5ee0c0de-0000-4000-8000-%012d", i+1), "BOARD-"+tc.name
			first := newDevice(t, s, fmt.Sprintf("case%d-1", i), hw)
			if o := first.activate(tc.first); o.Reason != "ACTIVATED" {
				t.Fatalf("first key = %+v", o)
			}
			tc.before()
			// Reinstall (an empty store), then a genuine key.
			bought := newDevice(t, s, fmt.Sprintf("case%d-2", i), hw)
			o := bought.activate(tc.then)
			if o.Reason != "ACTIVATED" {
				t.Fatalf("genuine key = %+v", o)
			}
			bought.check(nil, "GENUINE", problem.Genuine, "validate")
			// Another reinstall: the digital license is the purchase.
			again := newDevice(t, s, fmt.Sprintf("case%d-3", i), hw)
			if d := again.activate("--product", "photoedit"); d.Reason != "DIGITAL_LICENSE" || d.ActivationID != o.ActivationID {
				t.Fatalf("digital license = %+v, want the purchase %s", d, o.ActivationID)
			}
			again.check(nil, "GENUINE", problem.Genuine, "validate")
			// Entering the first key again does not take the purchase's place.
			if tc.name != "blocked" && tc.name != "trial" {
				third := newDevice(t, s, fmt.Sprintf("case%d-4", i), hw)
				if a := third.activate(tc.first); a.Reason != "ALREADY_ACTIVATED" {
					t.Fatalf("the first key again = %+v, want ALREADY_ACTIVATED", a)
				}
				bought.check(nil, "GENUINE", problem.Genuine, "validate")
			}
		})
	}
}

func TestHelpPagesAndFeedback(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	for _, code := range []string{"GENUINE", "NOT_ACTIVATED", "GRACE_PERIOD", "KEY_INVALID", "KEY_TYPO", "KEY_BLOCKED", "KEY_IN_USE_ELSEWHERE", "HARDWARE_CHANGED", "LICENSE_TAMPERED", "LICENSE_MISSING", "LICENSE_EXPIRED", "ACTIVATION_REVOKED", "CLOCK_TAMPERED", "REACTIVATED_WITH_OTHER_KEY", "ACTIVATION_LIMIT_REACHED", "SKU_MISMATCH", "NO_DIGITAL_LICENSE", "SERVER_UNREACHABLE"} {
		for _, kind := range []string{"reasons", "errors"} {
			en := get(t, s.URL+"/help/"+kind+"/"+code)
			nl := getLang(t, s.URL+"/help/"+kind+"/"+code, "nl-NL,nl;q=0.9")
			if !strings.Contains(en, `lang="en"`) || !strings.Contains(en, "How to fix it") || !strings.Contains(en, "Was this helpful?") {
				t.Fatalf("%s %s (en) incomplete", kind, code)
			}
			if !strings.Contains(nl, `lang="nl"`) || !strings.Contains(nl, "Zo lost u het op") {
				t.Fatalf("%s %s (nl) incomplete", kind, code)
			}
		}
	}
	// The index, also where a code was cut off a page's address.
	for _, path := range []string{"/help/", "/help/reasons/", "/help/errors/"} {
		if idx := getLang(t, s.URL+path, "nl"); !strings.Contains(idx, "KEY_IN_USE_ELSEWHERE") || !strings.Contains(idx, "REACTIVATED_WITH_OTHER_KEY") || !strings.Contains(idx, `lang="nl"`) {
			t.Fatalf("%s is not the index of codes: %.300s", path, idx)
		}
	}
	// An unknown code's page says so in its heading, then lists the codes.
	nope, err := http.Get(s.URL + "/help/reasons/NOPE")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(nope.Body)
	nope.Body.Close()
	if nope.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "<h1>There is no help page for this code.</h1>") || !strings.Contains(string(body), "KEY_TYPO") {
		t.Fatalf("unknown code's help page = %d %s", nope.StatusCode, body)
	}
	// The page in lower case, as its address may be written, counts for
	// the same page.
	resp, err := http.PostForm(s.URL+"/help/feedback", map[string][]string{"page": {"/help/reasons/key_typo"}, "helpful": {"no"}, "lang": {"nl"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("feedback = %v, %v", resp, err)
	}
	resp.Body.Close()
	var report []map[string]any
	mustRun(t, s, "admin", "feedback", "--json").JSON(t, &report)
	if len(report) != 1 || report[0]["page"] != "/help/reasons/KEY_TYPO" || report[0]["no"].(float64) != 1 || report[0]["lang"] != "nl" {
		t.Fatalf("feedback report = %v", report)
	}
	metrics := get(t, s.URL+"/metrics")
	if !strings.Contains(metrics, `echt_help_feedback_total{helpful="no",page="/help/reasons/KEY_TYPO"} 1`) {
		t.Fatalf("feedback metric missing")
	}
}

func get(t *testing.T, url string) string { return getLang(t, url, "") }

func getLang(t *testing.T, url, lang string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	os.MkdirAll(to, 0o700)
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(from, e.Name()))
		os.WriteFile(filepath.Join(to, e.Name()), b, 0o600)
	}
}

// The upgrade story: a device activated with one key gets a new key (a
// higher edition, or a key of its own after an OEM one). The new activation
// takes the old one's place: the copy is genuine, and a retail key's seat
// is free again. Unlike the repair story, the device still holds its
// license, and presents it.
func TestUpgradeStory(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	setupProduct(t, s, "photoedit-home", "retail")
	setupProduct(t, s, "photoedit-oem", "oem")
	setupProduct(t, s, "photoedit-family", "retail", "--max-devices", "3")
	home := genKeys(t, s, "photoedit-home", "1")[0]
	oem := genKeys(t, s, "photoedit-oem", "1")[0]
	family := genKeys(t, s, "photoedit-family", "3")

	seats := func(key string) float64 {
		var info map[string]any
		mustRun(t, s, "admin", "keys", "show", key, "--json").JSON(t, &info)
		return info["active_activations"].(float64)
	}
	for _, tc := range []struct {
		name, first, upgrade string
		firstSeats           float64 // the first key's seats afterwards
	}{
		{"retail to a higher edition", home, family[0], 0},
		{"OEM to a retail key", oem, family[1], 1},
	} {
		raw := pcA()
		raw.SystemUUID = "upgrade-" + tc.first[:5]
		raw.MACs = []string{"02:00:00:00:00:" + fmt.Sprintf("%02x", len(tc.name))}
		pc := newDevice(t, s, "pc-"+tc.first[:5], raw)
		if o := pc.activate(tc.first); o.Reason != "ACTIVATED" {
			t.Fatalf("%s: first activation = %+v", tc.name, o)
		}
		if o := pc.activate(tc.upgrade); o.Reason != "ACTIVATED" {
			t.Fatalf("%s: upgrade = %+v", tc.name, o)
		}
		pc.check(nil, "GENUINE", problem.Genuine, "validate")
		if n := seats(tc.first); n != tc.firstSeats {
			t.Errorf("%s: the first key holds %v seats, want %v", tc.name, n, tc.firstSeats)
		}
		if n := seats(tc.upgrade); n != 1 {
			t.Errorf("%s: the new key holds %v seats, want 1", tc.name, n)
		}
		if tc.first != oem {
			continue
		}
		// A second upgrade is an upgrade too, not a repair of the OEM
		// activation that stayed.
		if o := pc.activate(family[2]); o.Reason != "ACTIVATED" {
			t.Fatalf("second upgrade = %+v", o)
		}
		pc.check(nil, "GENUINE", problem.Genuine, "validate")
		if n := seats(tc.upgrade); n != 0 {
			t.Errorf("the first upgrade's key holds %v seats after the second, want 0", n)
		}
		// A reinstall finds the newest license, not the OEM one.
		again := newDevice(t, s, "pc-reinstalled", raw)
		if o := again.activate("--product", "photoedit"); o.Reason != "DIGITAL_LICENSE" || o.PartialKey != "XXXXX-XXXXX-XXXXX-XXXXX-"+family[2][24:] {
			t.Fatalf("reinstall after two upgrades = %+v, want the digital license of …%s", o, family[2][24:])
		}
		again.check(nil, "GENUINE", problem.Genuine, "validate")
	}
}

// Values others can see (a MAC on the network, a system UUID in network
// boot requests) are no evidence of a device's original activation: a
// stranger who activates his own key with a victim's MAC and UUID first
// does not turn the victim's purchase into a repair, and the refusal of a
// keyless claim made of such values does not tell whether the device holds
// a license.
func TestNoRepairFromValuesSeenOutside(t *testing.T) {
	s := clitest.StartServer(t, "", nil)
	setupProduct(t, s, "photoedit-pro", "retail")
	keys := genKeys(t, s, "photoedit-pro", "2")
	victim := pcA()
	attacker := newDevice(t, s, "attacker", hardware.Raw{SystemUUID: victim.SystemUUID, MACs: victim.MACs})
	if o := attacker.activate(keys[0]); o.Reason != "ACTIVATED" {
		t.Fatalf("the stranger's key = %+v", o)
	}
	pc := newDevice(t, s, "victim", victim)
	if o := pc.activate(keys[1]); o.Reason != "ACTIVATED" {
		t.Fatalf("the victim's key = %+v", o)
	}
	pc.check(nil, "GENUINE", problem.Genuine, "validate")

	// Probing for a digital license with the victim's MAC says no more
	// than probing with a MAC no device has.
	probe := func(mac string) string {
		d := newDevice(t, s, "probe-"+mac[len(mac)-2:], hardware.Raw{MACs: []string{mac}})
		r := d.run(nil, "activate", "--product", "photoedit", "--json")
		var o struct {
			Reason string `json:"reason"`
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal([]byte(r.Stdout), &o)
		if o.Reason != string(problem.NoDigitalLicense) {
			t.Errorf("keyless claim with a MAC alone = %s %q; want NO_DIGITAL_LICENSE", o.Reason, o.Detail)
		}
		return o.Detail
	}
	if held, none := probe(victim.MACs[0]), probe("02:42:00:00:00:99"); held != none {
		t.Errorf("a keyless claim tells an activated device's MAC from an unknown one:\n%q\n%q", held, none)
	}
}
