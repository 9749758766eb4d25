package echt_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/echt-dev/echt/problem"
)

func readDoc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

// mentionsCode reports whether doc names code as "`CODE`" or as a bare
// word (GENUINE inside NOT_GENUINE does not count).
func mentionsCode(doc string, code problem.Code) bool {
	if strings.Contains(doc, "`"+string(code)+"`") {
		return true
	}
	bare := regexp.MustCompile(`(^|[^A-Z0-9_])` + regexp.QuoteMeta(string(code)) + `([^A-Z0-9_]|$)`)
	return bare.MatchString(doc)
}

// docs/reasons.md lists every code of the code table.
func TestReasonsDocListsEveryCode(t *testing.T) {
	doc := readDoc(t, "docs/reasons.md")
	codes := problem.Codes()
	if len(codes) == 0 {
		t.Fatal("problem.Codes() is empty")
	}
	for _, info := range codes {
		if !mentionsCode(doc, info.Code) {
			t.Errorf("docs/reasons.md does not mention %s (HTTP %d, exit %d, %q)", info.Code, info.Status, info.Exit, info.Title)
		}
	}
}

// Where docs/reasons.md has a table row for a code, its HTTP status, exit
// code and title match the code table.
func TestReasonsDocTableMatchesCodeTable(t *testing.T) {
	doc := readDoc(t, "docs/reasons.md")
	rows := map[problem.Code][]string{}
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		code := problem.Code(strings.Trim(cells[0], "`"))
		if _, ok := problem.Lookup(code); ok && len(cells) >= 4 {
			rows[code] = cells
		}
	}
	for _, info := range problem.Codes() {
		cells, ok := rows[info.Code]
		if !ok {
			continue // TestReasonsDocListsEveryCode reports missing codes
		}
		if got, want := cells[1], strconv.Itoa(info.Status); got != want {
			t.Errorf("docs/reasons.md: %s HTTP status = %s, want %s", info.Code, got, want)
		}
		if got, want := cells[2], strconv.Itoa(info.Exit); got != want {
			t.Errorf("docs/reasons.md: %s exit code = %s, want %s", info.Code, got, want)
		}
		if got, want := cells[3], info.Title; got != want {
			t.Errorf("docs/reasons.md: %s title = %q, want %q", info.Code, got, want)
		}
	}
}

// docs/api.md mentions every path of the OpenAPI document, and every
// operation as "METHOD /path".
func TestAPIDocMentionsEveryRoute(t *testing.T) {
	doc := readDoc(t, "docs/api.md")
	var spec struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(readDoc(t, "internal/httpapi/openapi.json")), &spec); err != nil {
		t.Fatalf("internal/httpapi/openapi.json: %v", err)
	}
	if len(spec.Paths) == 0 {
		t.Fatal("internal/httpapi/openapi.json has no paths")
	}
	paths := make([]string, 0, len(spec.Paths))
	for p := range spec.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if !strings.Contains(doc, p) {
			t.Errorf("docs/api.md does not mention the path %s", p)
			continue
		}
		for method := range spec.Paths[p] {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
			default:
				continue // path-level members such as "parameters"
			}
			op := fmt.Sprintf("%s %s", strings.ToUpper(method), p)
			if !strings.Contains(doc, op) {
				t.Errorf("docs/api.md does not mention the operation %s", op)
			}
		}
	}
}

// Every fuzz target has a seed corpus in its package's testdata/fuzz, as
// docs/security.md says.
func TestEveryFuzzTargetHasASeedCorpus(t *testing.T) {
	target := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(f \*testing\.F\)`)
	n := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range target.FindAllStringSubmatch(string(b), -1) {
			n++
			seeds, _ := os.ReadDir(filepath.Join(filepath.Dir(path), "testdata", "fuzz", m[1]))
			if len(seeds) == 0 {
				t.Errorf("%s (%s) has no seed corpus in %s", m[1], path, filepath.Join(filepath.Dir(path), "testdata", "fuzz", m[1]))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("found only %d fuzz targets", n)
	}
}
