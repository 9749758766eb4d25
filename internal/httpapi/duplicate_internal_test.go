package httpapi

import "testing"

func TestDuplicateMember(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1,"b":2}`:                      "",
		`{"a":1,"a":2}`:                      "a",
		`{"role":"auditor","ROLE":"admin"}`:  "ROLE",
		`{"a":{"b":1},"b":{"b":2}}`:          "",
		`{"a":[{"k":1},{"k":2}],"b":1}`:      "",
		`{"a":[{"k":1,"k":2}]}`:              "k",
		`{"a":"b","b":"a"}`:                  "",
		`{"a":[1,"a",{"a":1}],"c":{},"a":3}`: "a",
		`{"a":1,`:                            "",
	} {
		got, ok := duplicateMember([]byte(in))
		if got != want || ok != (want != "") {
			t.Errorf("duplicateMember(%s) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
