package echt

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzStateFile: a damaged or hostile state file is a reason, never a
// crash, and never reads as intact unless its checksum matches.
func FuzzStateFile(f *testing.F) {
	good := &state{Product: "p", LicenseSHA256: "00"}
	good.Format = stateFormat
	good.Checksum = good.sum()
	dir := f.TempDir()
	ls := localStore{dir: filepath.Join(dir, "p")}
	if err := ls.writeState(good); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(ls.dir, stateFile))
	f.Add(b)
	f.Add([]byte(`{"format":"echt-state/1"}`))
	f.Add([]byte(`{"format":"echt-state/1","checksum":"","verdict":{"x":1}}`))
	f.Add([]byte{0xff, 0xfe, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		d := t.TempDir()
		ls := localStore{dir: d}
		if err := os.WriteFile(filepath.Join(d, stateFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		fs, err := ls.read()
		if err != nil {
			t.Fatalf("read = %v", err)
		}
		if fs.st != nil && fs.st.Checksum != fs.st.sum() {
			t.Fatal("state with a wrong checksum read as intact")
		}
	})
}
