package ident

import "testing"

// Product and SKU ids: the pattern, and no name that a Windows device
// directory could not take.
func TestValidName(t *testing.T) {
	for s, want := range map[string]bool{
		"photoedit": true, "photo-edit.pro_2": true, "a": true, "9lives": true, "console": true, "nul1": true, "com10": true, "lpt": true,
		"": false, "-a": false, ".a": false, "Photo": false, "photo edit": false, "a.": false, "a..": false,
		"con": false, "prn": false, "aux": false, "nul": false, "nul.txt": false, "com1": false, "com0": false, "lpt9": false, "lpt1.x": false,
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk": true, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl": false,
	} {
		if got := ValidName(s); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", s, got, want)
		}
		// Clients take every well-formed id, a product of an earlier
		// server's included.
		if want && !WellFormed(s) {
			t.Errorf("WellFormed(%q) = false for a valid name", s)
		}
	}
}

func TestWellFormedTakesOlderIDs(t *testing.T) {
	for _, s := range []string{"nul", "com1", "photo.", "aux.txt"} {
		if !WellFormed(s) || ValidName(s) {
			t.Errorf("%q: WellFormed %v, ValidName %v; want well formed, not valid for a new product", s, WellFormed(s), ValidName(s))
		}
	}
}
