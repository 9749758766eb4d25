package httpapi

import (
	"bytes"
	"errors"
)

// errRawJSON means fields could not split the input; callers fall back to
// encoding/json, which then reports the error properly.
var errRawJSON = errors.New("not a flat JSON object")

// fields splits a JSON object into its top-level members without decoding
// the values: one pass over the bytes, against encoding/json's two (a
// validation pass and a decoding pass) over every byte of every value. The
// hot path uses it to lift a large embedded document (a license) out of a
// request without scanning it twice. Values are returned as raw bytes and
// must be decoded or verified by the caller. Keys with escapes and
// duplicate keys are refused (errRawJSON).
func fields(b []byte) (map[string][]byte, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errRawJSON
	}
	out := make(map[string][]byte, 4)
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		if skipSpace(b, i+1) != len(b) {
			return nil, errRawJSON
		}
		return out, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
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
		if _, dup := out[string(key)]; dup {
			return nil, errRawJSON
		}
		out[string(key)] = b[i:vend]
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
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
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
