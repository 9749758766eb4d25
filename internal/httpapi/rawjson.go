package httpapi

import (
	"bytes"
	"errors"

	"github.com/echt-dev/echt/internal/hardware"
)

// errRawJSON means fields could not split the input; callers fall back to
// encoding/json, which then reports the error properly.
var errRawJSON = errors.New("not a flat JSON object")

// member is one member of a JSON object: its name and its raw value.
type member struct{ name, value []byte }

// members is a JSON object's members in the order written.
type members []member

// get returns the value of the member called name.
func (ms members) get(name string) ([]byte, bool) {
	for _, m := range ms {
		if string(m.name) == name {
			return m.value, true
		}
	}
	return nil, false
}

// maxFields is the most members fields reads: the requests it is for have
// a handful, and duplicates are looked for by comparing each with all.
const maxFields = 16

// fields splits a JSON object into its top-level members without decoding
// the values: one pass over the bytes, against encoding/json's two (a
// validation pass and a decoding pass) over every byte of every value. The
// hot path uses it to lift a large embedded document (a license) out of a
// request without scanning it twice. Values are returned as raw bytes and
// must be decoded or verified by the caller. Keys with escapes, duplicate
// keys and more than maxFields members are refused (errRawJSON): the
// caller leaves those to encoding/json. The members are appended to dst
// (room on the caller's stack, say).
func fields(b []byte, dst members) (members, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errRawJSON
	}
	out := dst[:0]
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		if skipSpace(b, i+1) != len(b) {
			return nil, errRawJSON
		}
		return out, nil
	}
	for {
		if i >= len(b) || b[i] != '"' || len(out) == maxFields {
			return nil, errRawJSON
		}
		end := bytes.IndexByte(b[i+1:], '"')
		if end < 0 {
			return nil, errRawJSON
		}
		key := b[i+1 : i+1+end]
		if bytes.IndexByte(key, '\\') >= 0 {
			return nil, errRawJSON
		}
		i = skipSpace(b, i+2+end)
		if i >= len(b) || b[i] != ':' {
			return nil, errRawJSON
		}
		i = skipSpace(b, i+1)
		vend, err := valueEnd(b, i)
		if err != nil {
			return nil, err
		}
		if _, dup := out.get(string(key)); dup {
			return nil, errRawJSON
		}
		out = append(out, member{name: key, value: b[i:vend]})
		i = skipSpace(b, vend)
		if i >= len(b) {
			return nil, errRawJSON
		}
		if b[i] == '}' {
			if skipSpace(b, i+1) != len(b) {
				return nil, errRawJSON
			}
			return out, nil
		}
		if b[i] != ',' {
			return nil, errRawJSON
		}
		i = skipSpace(b, i+1)
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the end of the JSON value starting at i, tracking only
// strings and nesting: it finds boundaries, it does not validate.
func valueEnd(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errRawJSON
	}
	switch b[i] {
	case '"':
		// Jump from quote to quote; a quote ends the string unless an odd
		// number of backslashes precedes it.
		for j := i + 1; j < len(b); {
			q := bytes.IndexByte(b[j:], '"')
			if q < 0 {
				return 0, errRawJSON
			}
			j += q
			n := 0
			for k := j - 1; k > i && b[k] == '\\'; k-- {
				n++
			}
			if n%2 == 0 {
				return j + 1, nil
			}
			j++
		}
		return 0, errRawJSON
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := valueEnd(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errRawJSON
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
			j++
		}
		if j == i {
			return 0, errRawJSON
		}
		return j, nil
	}
}

// plainString returns the contents of a JSON string literal made only of
// printable ASCII without escapes, the form every component hash takes;
// ok is false for anything else, which the caller then leaves to
// encoding/json.
func plainString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	v = v[1 : len(v)-1]
	for _, c := range v {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return "", false
		}
	}
	return string(v), true
}

// plainStrings is plainString for an array of such strings.
func plainStrings(v []byte) ([]string, bool) {
	if len(v) < 2 || v[0] != '[' || v[len(v)-1] != ']' {
		return nil, false
	}
	var out []string
	i := skipSpace(v, 1)
	if i == len(v)-1 {
		return []string{}, true
	}
	for {
		end, err := valueEnd(v, i)
		if err != nil || end >= len(v) {
			return nil, false
		}
		s, ok := plainString(v[i:end])
		if !ok {
			return nil, false
		}
		out = append(out, s)
		i = skipSpace(v, end)
		switch {
		case i == len(v)-1:
			return out, true
		case v[i] != ',':
			return nil, false
		}
		i = skipSpace(v, i+1)
	}
}

// profileFast decodes a hardware profile written the way clients write
// it: known member names, plain strings. Anything else (escapes, nulls,
// other names, duplicates) gives ok false and goes to encoding/json, so
// the result never differs from json.Unmarshal's.
func profileFast(b []byte) (p hardware.Profile, ok bool) {
	var room [8]member
	f, err := fields(b, room[:0])
	if err != nil {
		return p, false
	}
	for _, m := range f {
		v := m.value
		switch string(m.name) {
		case "system_uuid":
			p.SystemUUID, ok = plainString(v)
		case "board_serial":
			p.BoardSerial, ok = plainString(v)
		case "cpu":
			p.CPU, ok = plainString(v)
		case "memory":
			p.Memory, ok = plainString(v)
		case "os_install_id":
			p.OSInstallID, ok = plainString(v)
		case "disks":
			p.Disks, ok = plainStrings(v)
		case "macs":
			p.MACs, ok = plainStrings(v)
		default:
			ok = false
		}
		if !ok {
			return hardware.Profile{}, false
		}
	}
	return p, true
}
