package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// fill sets every field of the struct v points to: strings to s, times to
// t, string slices to {s, s}, raw messages to raw, nested structs alike.
func fill(v reflect.Value, s string, t time.Time, raw json.RawMessage) {
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Type() == reflect.TypeFor[time.Time]():
			f.Set(reflect.ValueOf(t))
		case f.Type() == reflect.TypeFor[json.RawMessage]():
			f.Set(reflect.ValueOf(raw))
		case f.Kind() == reflect.String:
			f.SetString(s)
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			f.Set(reflect.ValueOf([]string{s, s}))
		case f.Kind() == reflect.Struct:
			fill(f, s, t, raw)
		default:
			panic("fill: add a case for " + f.Type().String())
		}
	}
}

func TestMarshalMatchesEncodingJSON(t *testing.T) {
	times := []time.Time{{}, time.Date(2026, 11, 25, 19, 0, 0, 120_000_000, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("cet", 3600))}
	for _, s := range []string{"", "GENUINE", `<a href="x">&amp;</a>`, "Niet echt: \u00e9\n\t\\"} {
		for _, tm := range times {
			var v Verdict
			fill(reflect.ValueOf(&v).Elem(), s, tm, nil)
			got, err := AppendVerdict(nil, v)
			want, werr := json.Marshal(v)
			if err != nil || werr != nil || string(got) != string(want) {
				t.Errorf("Verdict %q %v:\n got %s %v\nwant %s %v", s, tm, got, err, want, werr)
			}
			var a ActivateResponse
			fill(reflect.ValueOf(&a).Elem(), s, tm, json.RawMessage(`{"type":"license","sig":"x+/="}`))
			got, err = EncodeActivateResponse(a)
			want, werr = json.Marshal(a)
			if err != nil || werr != nil || string(got) != string(want) {
				t.Errorf("ActivateResponse %q %v:\n got %s %v\nwant %s %v", s, tm, got, err, want, werr)
			}
			var r ValidateResponse
			fill(reflect.ValueOf(&r).Elem(), s, tm, json.RawMessage(`{"type":"verdict"}`))
			got, err = AppendValidateResponse(nil, r)
			want, werr = json.Marshal(r)
			if err != nil || werr != nil || string(got) != string(want) {
				t.Errorf("ValidateResponse %q %v:\n got %s %v\nwant %s %v", s, tm, got, err, want, werr)
			}
		}
	}
	// Partly filled and nil values, and the error encoding/json gives.
	v := Verdict{Status: "GENUINE", Entitlements: []string{}, CheckedAt: times[1]}
	if got, want := string(must(AppendVerdict(nil, v))), string(must(json.Marshal(v))); got != want {
		t.Errorf("partial verdict:\n got %s\nwant %s", got, want)
	}
	r := ValidateResponse{Status: "GENUINE"}
	if got, want := string(must(AppendValidateResponse(nil, r))), string(must(json.Marshal(r))); got != want {
		t.Errorf("empty response:\n got %s\nwant %s", got, want)
	}
	bad := Verdict{NextCheck: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := AppendVerdict(nil, bad); err == nil {
		t.Error("a verdict with year 10000 encoded")
	}
	if _, err := AppendValidateResponse(nil, ValidateResponse{CheckedAt: bad.NextCheck}); err == nil {
		t.Error("a response with year 10000 encoded")
	}
}

// The Append forms add exactly the encoding after what dst holds, also on
// encoding/json's path, and leave dst's bytes alone when they fail.
func TestAppendKeepsPrefix(t *testing.T) {
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	bad := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	verdicts := []Verdict{{Status: "GENUINE", Nonce: "n", CheckedAt: now, NextCheck: now}, {Status: "<odd>", Remedy: Remedy{Text: "é\n"}}}
	responses := []ValidateResponse{{Verdict: json.RawMessage(`{"type":"verdict"}`), Status: "GENUINE", CheckedAt: now}, {Reason: "<&>"}}
	for _, room := range []int{0, 4096} {
		dst := append(make([]byte, 0, 6+room), "prefix"...)
		for _, v := range verdicts {
			got, err := AppendVerdict(dst, v)
			if want := "prefix" + string(must(json.Marshal(v))); err != nil || string(got) != want {
				t.Errorf("AppendVerdict = %s, %v; want %s", got, err, want)
			}
		}
		for _, r := range responses {
			got, err := AppendValidateResponse(dst, r)
			if want := "prefix" + string(must(json.Marshal(r))); err != nil || string(got) != want {
				t.Errorf("AppendValidateResponse = %s, %v; want %s", got, err, want)
			}
		}
		if got, err := AppendVerdict(dst, Verdict{CheckedAt: bad}); err == nil || string(got) != "prefix" {
			t.Errorf("AppendVerdict of year 10000 = %q, %v; want the prefix and an error", got, err)
		}
		if got, err := AppendValidateResponse(dst, ValidateResponse{NextCheck: bad}); err == nil || string(got) != "prefix" {
			t.Errorf("AppendValidateResponse of year 10000 = %q, %v; want the prefix and an error", got, err)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
