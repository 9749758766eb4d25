package hardware

import (
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// readByteFixture reads a testdata file of hex bytes and "quoted ASCII"
// tokens; # starts a comment.
func readByteFixture(t testing.TB, name string) []byte {
	t.Helper()
	text, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for n, line := range strings.Split(string(text), "\n") {
		for line != "" {
			line = strings.TrimLeft(line, " \t\r")
			switch {
			case line == "" || line[0] == '#':
				line = ""
			case line[0] == '"':
				end := strings.IndexByte(line[1:], '"')
				if end < 0 {
					t.Fatalf("%s:%d: unterminated string", name, n+1)
				}
				out = append(out, line[1:1+end]...)
				line = line[2+end:]
			default:
				tok, rest, _ := strings.Cut(line, " ")
				b, err := hex.DecodeString(strings.TrimSpace(tok))
				if err != nil {
					t.Fatalf("%s:%d: %v", name, n+1, err)
				}
				out = append(out, b...)
				line = rest
			}
		}
	}
	return out
}

// rsmbBlob wraps a structure table in the RawSMBIOSData header that
// GetSystemFirmwareTable returns.
func rsmbBlob(major, minor byte, table []byte) []byte {
	b := []byte{0, major, minor, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[4:], uint32(len(table)))
	return append(b, table...)
}

func TestParseRSMB(t *testing.T) {
	table := readByteFixture(t, "smbios-table.txt")
	// Offsets into the fixture, to build damaged tables.
	type1 := 0x12 + len("American Megatrends Inc.\x001.20\x0001/01/2023\x00\x00")
	type2 := strings.Index(string(table), "\x02\x0f\x02\x00")
	if type2 < 0 {
		t.Fatal("fixture has no type 2 structure")
	}
	modified := func(f func(b []byte)) []byte {
		b := append([]byte(nil), table...)
		f(b)
		return b
	}
	shortType1 := modified(func(b []byte) { b[type1+1] = 0x08 }) // an SMBIOS 2.0 type 1: no UUID
	noBoardSerial := modified(func(b []byte) { b[type2+7] = 0 }) // the system board has no serial
	shortLength := rsmbBlob(3, 0, table)
	binary.LittleEndian.PutUint32(shortLength[4:], uint32(type2))

	tests := []struct {
		name    string
		blob    []byte
		want    smbiosInfo
		wantErr bool
	}{
		{
			name: "SMBIOS 3.2: little-endian UUID fields",
			blob: rsmbBlob(3, 2, table),
			want: smbiosInfo{systemUUID: "00112233-4455-6677-8899-aabbccddeeff", boardSerial: "07C0211_K91E123456"},
		},
		{
			name: "SMBIOS 2.6",
			blob: rsmbBlob(2, 6, table),
			want: smbiosInfo{systemUUID: "00112233-4455-6677-8899-aabbccddeeff", boardSerial: "07C0211_K91E123456"},
		},
		{
			name: "SMBIOS 2.4: UUID as stored",
			blob: rsmbBlob(2, 4, table),
			want: smbiosInfo{systemUUID: "33221100-5544-7766-8899-aabbccddeeff", boardSerial: "07C0211_K91E123456"},
		},
		{
			name: "truncated inside the baseboard strings",
			blob: rsmbBlob(3, 0, table[:type2+20]),
			want: smbiosInfo{systemUUID: "00112233-4455-6677-8899-aabbccddeeff"},
		},
		{
			name: "header length shorter than the data",
			blob: shortLength,
			want: smbiosInfo{systemUUID: "00112233-4455-6677-8899-aabbccddeeff"},
		},
		{
			name: "type 1 without UUID",
			blob: rsmbBlob(3, 0, shortType1),
			want: smbiosInfo{boardSerial: "07C0211_K91E123456"},
		},
		{
			name: "system board without serial: an add-in card's is not used",
			blob: rsmbBlob(3, 0, noBoardSerial),
			want: smbiosInfo{systemUUID: "00112233-4455-6677-8899-aabbccddeeff"},
		},
		{
			name:    "only BIOS information",
			blob:    rsmbBlob(3, 0, table[:type1]),
			wantErr: true,
		},
		{
			name:    "structure length below header size",
			blob:    rsmbBlob(3, 0, []byte{1, 2, 0, 0, 0, 0}),
			wantErr: true,
		},
		{
			name:    "empty table",
			blob:    rsmbBlob(3, 0, nil),
			wantErr: true,
		},
		{
			name:    "short header",
			blob:    []byte{0, 3, 0},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRSMB(tt.blob)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseRSMB() error = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseRSMB() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSMBIOSStringIndex(t *testing.T) {
	// A baseboard whose serial index points past its strings.
	table := []byte{2, 8, 0, 0, 1, 0, 0, 5}
	table = append(table, "Vendor\x00\x00"...)
	got, err := parseSMBIOS(table, 3, 0)
	if err == nil || got != (smbiosInfo{}) {
		t.Errorf("parseSMBIOS() = %+v, %v; want nothing and an error", got, err)
	}
}

func FuzzParseRSMB(f *testing.F) {
	f.Add(rsmbBlob(3, 2, readByteFixture(f, "smbios-table.txt")))
	f.Add([]byte{0, 2, 6, 0, 255, 255, 255, 255, 1, 0x18, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		parseRSMB(b) // must not panic
	})
}
