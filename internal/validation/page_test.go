package validation

import (
	"encoding/json"
	"testing"
	"time"
)

func TestPageJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 19, 0, 0, 5_000_000, time.UTC)
	for _, p := range []Page{
		{},
		{Status: "GENUINE", Reason: "GENUINE", Product: "photoedit", CheckedAt: at},
		{Status: "NOT_GENUINE", Reason: "REACTIVATED_WITH_OTHER_KEY", Product: "p", Edition: "Pro <x>", PartialKey: "6789B", Remedy: "Deactiveer \"de\" andere sleutel & ga verder\n", CheckedAt: at, Lang: "nl"},
	} {
		got, ok := p.appendJSON(nil)
		want, err := json.Marshal(p)
		if !ok || err != nil || string(got) != string(want) {
			t.Errorf("appendJSON(%+v) = %s %v, encoding/json writes %s %v", p, got, ok, want, err)
		}
	}
	if _, ok := (Page{CheckedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}).appendJSON(nil); ok {
		t.Error("a page of year 10000 encoded")
	}
}
