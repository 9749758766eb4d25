// Package reasons is the catalog of reason and error codes as people read
// them: what each code means, its likely causes, and the steps that fix it,
// in several languages. The texts are plain data files (data/<lang>.json);
// adding a language is adding a file.
package reasons

import (
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/echt-dev/echt/internal/productkey"
	"github.com/echt-dev/echt/problem"
)

//go:embed data/*.json ui/*.json
var data embed.FS

// Entry is one code's help text in one language.
type Entry struct {
	Code    problem.Code `json:"-"`
	Lang    string       `json:"-"`
	Title   string       `json:"title"`
	Meaning string       `json:"meaning"`
	Causes  []string     `json:"causes"`
	Steps   []string     `json:"steps"`
	// Remedy is the one-line fix shown by the CLI and in verdicts.
	Remedy string `json:"remedy"`
}

// RemedyID is the stable id of a code's remedy.
func RemedyID(c problem.Code) string {
	return "fix-" + strings.ReplaceAll(strings.ToLower(string(c)), "_", "-")
}

// DefaultLang is used when no requested language is available.
const DefaultLang = "en"

var (
	once    sync.Once
	catalog map[string]map[problem.Code]Entry
	ui      map[string]map[string]string
	loadErr error
)

func load() {
	catalog = map[string]map[problem.Code]Entry{}
	files, err := data.ReadDir("data")
	if err != nil {
		loadErr = err
		return
	}
	for _, f := range files {
		lang := strings.TrimSuffix(f.Name(), ".json")
		b, err := data.ReadFile(path.Join("data", f.Name()))
		if err != nil {
			loadErr = err
			return
		}
		var m map[problem.Code]Entry
		if err := json.Unmarshal(b, &m); err != nil {
			loadErr = fmt.Errorf("reasons: %s: %w", f.Name(), err)
			return
		}
		for c, e := range m {
			e.Code, e.Lang = c, lang
			m[c] = e
		}
		catalog[lang] = m
	}
	ui = map[string]map[string]string{}
	uiFiles, err := data.ReadDir("ui")
	if err != nil {
		loadErr = err
		return
	}
	for _, f := range uiFiles {
		b, err := data.ReadFile(path.Join("ui", f.Name()))
		if err != nil {
			loadErr = err
			return
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			loadErr = fmt.Errorf("reasons: ui/%s: %w", f.Name(), err)
			return
		}
		ui[strings.TrimSuffix(f.Name(), ".json")] = m
	}
}

// UI returns a page text in lang, falling back to English, then to key.
func UI(lang, key string) string {
	once.Do(load)
	if v := ui[lang][key]; v != "" {
		return v
	}
	if v := ui[DefaultLang][key]; v != "" {
		return v
	}
	return key
}

// Languages returns the available languages, sorted.
func Languages() []string {
	once.Do(load)
	out := make([]string, 0, len(catalog))
	for l := range catalog {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// Lookup returns a code's entry in lang, falling back to English. ok is
// false for a code the catalog does not describe.
func Lookup(c problem.Code, lang string) (Entry, bool) {
	once.Do(load)
	if m, ok := catalog[lang]; ok {
		if e, ok := m[c]; ok {
			return e, true
		}
	}
	e, ok := catalog[DefaultLang][c]
	return e, ok
}

// Codes returns every code of the English catalog, sorted.
func Codes() []problem.Code {
	once.Do(load)
	out := make([]problem.Code, 0, len(catalog[DefaultLang]))
	for c := range catalog[DefaultLang] {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Remedy returns the one-line remedy of a code in lang.
func Remedy(c problem.Code, lang string) string {
	if e, ok := Lookup(c, lang); ok {
		return e.Remedy
	}
	return ""
}

// Err reports a catalog that failed to load (a build defect).
func Err() error {
	once.Do(load)
	return loadErr
}

// Negotiate picks the best available language from an Accept-Language
// header or an explicit choice; explicit wins.
func Negotiate(explicit, acceptLanguage string) string {
	once.Do(load)
	if explicit != "" {
		// "nl", "NL", "nl-BE" and "nl_BE" all mean Dutch.
		base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(explicit)), "-")
		base, _, _ = strings.Cut(base, "_")
		if _, ok := catalog[base]; ok {
			return base
		}
	}
	type cand struct {
		lang string
		q    float64
	}
	var cands []cand
	for _, part := range strings.Split(acceptLanguage, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		tag, params, _ := strings.Cut(part, ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if _, err := fmt.Sscanf(v, "%g", &q); err != nil {
				q = 0
			}
		}
		base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		cands = append(cands, cand{base, q})
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].q > cands[j].q })
	for _, c := range cands {
		if _, ok := catalog[c.lang]; ok && c.q > 0 {
			return c.lang
		}
	}
	return DefaultLang
}

// WithKey is a remedy followed by the partial key it names, as
// " (XXXXX-XXXXX-XXXXX-XXXXX-TQ3Y8)": REACTIVATED_WITH_OTHER_KEY names the
// original key to enter.
func WithKey(remedy, partialKey string) string { return remedy + " (" + partialKey + ")" }

// NamedKey is what WithKey added to a remedy (written in some language),
// to add it again to the remedy in another; "" when it names no key.
func NamedKey(remedy string) string {
	if i := strings.LastIndex(remedy, " ("+productkey.Partial("")); i >= 0 && strings.HasSuffix(remedy, ")") {
		return remedy[i:]
	}
	return ""
}
