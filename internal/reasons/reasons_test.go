package reasons

import (
	"strings"
	"testing"

	"github.com/echt-dev/echt/problem"
)

// Every code of the problem table has a complete entry in every language.
func TestCatalogComplete(t *testing.T) {
	if err := Err(); err != nil {
		t.Fatal(err)
	}
	for _, lang := range Languages() {
		for _, info := range problem.Codes() {
			e, ok := catalog[lang][info.Code]
			if !ok {
				t.Errorf("%s: no entry for %s", lang, info.Code)
				continue
			}
			if e.Title == "" || e.Meaning == "" || len(e.Causes) == 0 || len(e.Steps) == 0 || e.Remedy == "" {
				t.Errorf("%s: entry for %s is incomplete", lang, info.Code)
			}
			// The help page and the API's problem say the same.
			if lang == DefaultLang && e.Title != info.Title {
				t.Errorf("%s: help title %q, API title %q", info.Code, e.Title, info.Title)
			}
		}
		for c := range catalog[lang] {
			if _, ok := problem.Lookup(c); !ok {
				t.Errorf("%s: entry for unknown code %s", lang, c)
			}
		}
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct{ explicit, accept, want string }{
		{"", "", "en"},
		{"", "nl-NL,nl;q=0.9,en;q=0.8", "nl"},
		{"", "fr-FR, en;q=0.5", "en"},
		{"", "de;q=0.9, nl;q=0.8", "nl"},
		{"en", "nl", "en"},
		{"xx", "nl", "nl"},
		{"", "nl;q=0", "en"},
		{"nl-BE", "", "nl"},
		{"NL_nl", "", "nl"},
		{" nl ", "en", "nl"},
	}
	for _, tt := range tests {
		if got := Negotiate(tt.explicit, tt.accept); got != tt.want {
			t.Errorf("Negotiate(%q, %q) = %q, want %q", tt.explicit, tt.accept, got, tt.want)
		}
	}
}

// Every language has every page text of English.
func TestUIComplete(t *testing.T) {
	if err := Err(); err != nil {
		t.Fatal(err)
	}
	for lang, m := range ui {
		for k := range ui[DefaultLang] {
			if m[k] == "" {
				t.Errorf("ui/%s.json: no %q", lang, k)
			}
			// The agent's texts are format strings: same verbs as English.
			if n, want := strings.Count(m[k], "%"), strings.Count(ui[DefaultLang][k], "%"); n != want {
				t.Errorf("ui/%s.json: %q has %d %% verbs, English %d", lang, k, n, want)
			}
		}
		if _, ok := catalog[lang]; !ok {
			t.Errorf("ui/%s.json has no reason catalog data/%s.json", lang, lang)
		}
	}
}
