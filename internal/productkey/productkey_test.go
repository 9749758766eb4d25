package productkey

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func testSecret(t testing.TB, seed byte) *Secret {
	t.Helper()
	s, err := NewSecret(bytes.Repeat([]byte{seed}, SecretSize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	s := testSecret(t, 1)
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	for i := 0; i < 20000; i++ {
		g := uint16(1 + r.IntN(MaxGroup))
		ser := uint32(r.IntN(MaxSerial + 1))
		if i < 3 {
			g, ser = MaxGroup, MaxSerial-uint32(i)
		}
		k, err := s.Issue(g, ser)
		if err != nil {
			t.Fatal(err)
		}
		str := k.String()
		if len(str) != 29 || strings.Count(str, "-") != 4 {
			t.Fatalf("String() = %q, want 5 groups of 5", str)
		}
		if seen[str] {
			t.Fatalf("duplicate key %s", str)
		}
		seen[str] = true
		got, err := Parse(str)
		if err != nil {
			t.Fatalf("Parse(%q) = %v", str, err)
		}
		if got != k {
			t.Fatalf("Parse(%q) = %+v, want %+v", str, got, k)
		}
		if !s.Authentic(got) {
			t.Fatalf("Authentic(%q) = false", str)
		}
	}
}

func TestParseForgiving(t *testing.T) {
	s := testSecret(t, 1)
	k, _ := s.Issue(42, 7)
	c := k.String()
	plain := strings.ReplaceAll(c, "-", "")
	for name, in := range map[string]string{
		"canonical":     c,
		"lower":         strings.ToLower(c),
		"no dashes":     plain,
		"spaces":        strings.ReplaceAll(c, "-", " "),
		"extra dashes":  "--" + strings.ReplaceAll(c, "-", "--") + "-",
		"odd groups":    plain[:3] + "-" + plain[3:11] + " - " + plain[11:],
		"unicode dash":  strings.ReplaceAll(c, "-", "\u2013"),
		"surrounding":   "  " + c + "\n",
		"mixed case":    strings.ToLower(c[:10]) + c[10:],
		"tabs and nbsp": strings.ReplaceAll(c, "-", "\t\u00a0"),
		"full-width":    strings.Map(func(r rune) rune { return r + 0xfee0 }, c),
	} {
		got, err := Parse(in)
		if err != nil || got != k {
			t.Errorf("%s: Parse(%q) = %v, %v; want %v", name, in, got, err, k)
		}
	}
}

// Every separator a word processor, a web page or an input method may put
// between the groups is dropped.
func TestParseSeparators(t *testing.T) {
	s := testSecret(t, 1)
	k, _ := s.Issue(42, 7)
	for _, sep := range []string{
		"\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212", "\ufe63", "\uff0d", "\u2e3a", "\u301c",
		"\u00ad", "\u200b", "\u2060", "\ufeff",
		"\u2009", "\u202f", "\u3000", "\u2007", "\u205f", "\u00a0", "_", ".", "/",
	} {
		in := strings.ReplaceAll(k.String(), "-", sep)
		if got, err := Parse(in); err != nil || got != k {
			t.Errorf("separator %U: Parse(%q) = %v, %v; want %v", []rune(sep)[0], in, got, err, k)
		}
	}
}

func TestParseErrors(t *testing.T) {
	s := testSecret(t, 1)
	k, _ := s.Issue(42, 7)
	c := strings.ReplaceAll(k.String(), "-", "")
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrLength},
		{"short", c[:24], ErrLength},
		{"long", c + "B", ErrLength},
		{"vowel", "A" + c[1:], ErrChar},
		{"zero", c[:5] + "0" + c[6:], ErrChar},
		{"emoji", c[:5] + "😀" + c[6:], ErrChar},
		{"windows generic key", "W269N-WFGWX-YVC9B-4J6C9-T83GX", ErrChar},
	}
	for _, tt := range tests {
		if _, err := Parse(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("%s: Parse(%q) = %v, want %v", tt.name, tt.in, err, tt.want)
		}
	}
}

// Every single-character substitution and every adjacent transposition of a
// valid key fails the checksum: the client catches them offline.
func TestChecksumCatchesSingleErrors(t *testing.T) {
	s := testSecret(t, 3)
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 200; n++ {
		k, _ := s.Issue(uint16(1+r.IntN(MaxGroup)), uint32(r.IntN(MaxSerial)))
		c := []byte(strings.ReplaceAll(k.String(), "-", ""))
		for i := range c {
			for _, a := range []byte(Alphabet) {
				if a == c[i] {
					continue
				}
				m := bytes.Clone(c)
				m[i] = a
				if _, err := Parse(string(m)); !errors.Is(err, ErrChecksum) && !errors.Is(err, ErrVersion) {
					t.Fatalf("Parse(%s) with char %d changed = %v, want checksum error", m, i+1, err)
				}
			}
			if i+1 < len(c) && c[i] != c[i+1] {
				m := bytes.Clone(c)
				m[i], m[i+1] = m[i+1], m[i]
				if _, err := Parse(string(m)); err == nil {
					t.Fatalf("Parse(%s) with chars %d,%d swapped succeeded", m, i+1, i+2)
				}
			}
		}
	}
}

func TestClassify(t *testing.T) {
	s := testSecret(t, 5)
	other := testSecret(t, 6)
	r := rand.New(rand.NewPCG(5, 6))
	k, _ := s.Issue(9, 123456)
	c := strings.ReplaceAll(k.String(), "-", "")

	if _, v := s.Classify(k.String()); v != Authentic {
		t.Fatalf("Classify(valid) = %v, want Authentic", v)
	}
	if got, v := s.Classify(strings.ToLower(c)); v != Authentic || got != k {
		t.Fatalf("Classify(lower) = %v, %v", got, v)
	}

	t.Run("typos", func(t *testing.T) {
		typos := map[string]string{
			"substitution":  c[:7] + string(other1(c[7])) + c[8:],
			"transposition": c[:3] + string(c[4]) + string(c[3]) + c[5:],
			"missing":       c[:12] + c[13:],
			"extra":         c[:12] + "B" + c[12:],
			"lookalike":     c[:20] + "0" + c[21:],
		}
		if c[3] == c[4] {
			delete(typos, "transposition")
		}
		for name, in := range typos {
			if _, v := s.Classify(in); v != Typo {
				t.Errorf("%s: Classify(%q) = %v, want Typo", name, in, v)
			}
		}
	})

	t.Run("random strings are forgeries", func(t *testing.T) {
		for i := 0; i < 3000; i++ {
			b := make([]byte, Len)
			for j := range b {
				b[j] = Alphabet[r.IntN(24)]
			}
			if _, v := s.Classify(string(b)); v != Forged {
				t.Fatalf("Classify(random %s) = %v, want Forged", b, v)
			}
		}
	})

	t.Run("another secret's keys are forgeries", func(t *testing.T) {
		for i := 0; i < 1000; i++ {
			fk, _ := other.Issue(uint16(1+r.IntN(100)), uint32(r.IntN(1e6)))
			if _, v := s.Classify(fk.String()); v != Forged {
				t.Fatalf("Classify(other secret's %s) = %v, want Forged", fk, v)
			}
		}
	})

	t.Run("changed serial with fixed checksum is a forgery", func(t *testing.T) {
		for i := 0; i < 1000; i++ {
			f := k
			f.Serial = uint32(r.IntN(MaxSerial))
			if f.Serial == k.Serial {
				continue
			}
			if _, v := s.Classify(f.String()); v != Forged {
				t.Fatalf("Classify(%s) = %v, want Forged", f, v)
			}
		}
	})

	t.Run("a changed character with recomputed checksum is a forgery", func(t *testing.T) {
		d := k.digits()
		for i := 0; i < payloadDigits; i++ {
			for v := int8(0); v < 24; v++ {
				if v == d[i] {
					continue
				}
				m := d
				m[i] = v
				cs := checksum(&m)
				m[payloadDigits], m[payloadDigits+1] = int8(cs/24), int8(cs%24)
				var b strings.Builder
				for _, x := range m {
					b.WriteByte(Alphabet[x])
				}
				if _, verdict := s.Classify(b.String()); verdict == Authentic {
					t.Fatalf("Classify(%s) = Authentic for a forged key", b.String())
				}
			}
		}
	})
}

func other1(c byte) byte {
	if c == 'B' {
		return 'C'
	}
	return 'B'
}

func TestSecretRedacted(t *testing.T) {
	s := testSecret(t, 7)
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(f, s)
		if strings.Contains(out, "\x07") || !strings.Contains(out, "redacted") {
			t.Errorf("Sprintf(%q, secret) = %q, want redacted", f, out)
		}
	}
}

func TestPartial(t *testing.T) {
	s := testSecret(t, 1)
	k, _ := s.Issue(1, 1)
	p := Partial(k.LastGroup())
	if !strings.HasPrefix(p, "XXXXX-XXXXX-XXXXX-XXXXX-") || !strings.HasSuffix(k.String(), p[24:]) {
		t.Errorf("Partial(%s) = %s", k, p)
	}
}

func FuzzParse(f *testing.F) {
	s := testSecret(f, 1)
	k, _ := s.Issue(3, 4)
	for _, seed := range []string{k.String(), strings.ToLower(k.String()), "", "-----", "BBBBB-BBBBB-BBBBB-BBBBB-BBBBB", "W269N-WFGWX-YVC9B-4J6C9-T83GX", "😀"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Parse(in)
		if err != nil {
			_, _ = s.Classify(in)
			return
		}
		// A parsed key re-encodes to the normalized input.
		if want := Normalize(in); strings.ReplaceAll(got.String(), "-", "") != want {
			t.Fatalf("Parse(%q).String() = %s, want %s", in, got, want)
		}
		again, err := Parse(got.String())
		if err != nil || again != got {
			t.Fatalf("reparse %s = %v, %v", got, again, err)
		}
		if got.Version != Version {
			t.Fatalf("version %d accepted", got.Version)
		}
		_, _ = s.Classify(in)
	})
}

func BenchmarkIssue(b *testing.B) {
	s := testSecret(b, 1)
	for i := 0; b.Loop(); i++ {
		k, _ := s.Issue(1, uint32(i))
		_ = k.String()
	}
}

func BenchmarkClassifyTypo(b *testing.B) {
	s := testSecret(b, 1)
	k, _ := s.Issue(1, 1)
	c := strings.ReplaceAll(k.String(), "-", "")
	in := c[:7] + string(other1(c[7])) + c[8:]
	for b.Loop() {
		s.Classify(in)
	}
}

func TestOneTypoAway(t *testing.T) {
	for s, want := range map[string]bool{
		"BCDFG-HJKMP-QRTVW-XY234-6789B":   true,  // a key's shape (checksum aside)
		"BCDFG-HJKMP-QRTVW-XY234-6789A":   true,  // one foreign character
		"BCDFG-HJKMP-QRTVW-XY234-6789":    true,  // one character short
		"AAAAA-AAAAA-AAAAA-AAAAA-AAAAA":   false, // no key's characters
		"BCDFG-HJKMP":                     false,
		"BCDFG-HJKMP-QRTVW-XY234-6789BCD": false,
	} {
		if got := OneTypoAway(s); got != want {
			t.Errorf("OneTypoAway(%q) = %v, want %v", s, got, want)
		}
	}
}
