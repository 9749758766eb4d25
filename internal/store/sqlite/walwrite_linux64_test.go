//go:build linux && (amd64 || arm64)

package sqlite

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"modernc.org/libc"
)

// framePwrite leaves on disk exactly what SQLite's two calls would: a
// header and its page in one call, a held-back 24-byte write that is not
// continued written on its own before the next write, another thread's
// writes untouched.
func TestFramePwrite(t *testing.T) {
	tls, other := libc.NewTLS(), libc.NewTLS()
	defer tls.Close()
	defer other.Close()
	path := filepath.Join(t.TempDir(), "log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int32(f.Fd())
	want := make([]byte, 0, 1<<15)
	put := func(tls *libc.TLS, off int64, b []byte) {
		t.Helper()
		p := libc.Xmalloc(tls, uint64(len(b)))
		defer libc.Xfree(tls, p)
		copy(unsafe.Slice((*byte)(cPointer(p)), len(b)), b)
		if n := framePwrite(tls, fd, p, uint64(len(b)), off); n != int64(len(b)) {
			t.Fatalf("framePwrite(%d bytes at %d) = %d", len(b), off, n)
		}
		if end := int(off) + len(b); end > len(want) {
			want = want[:end]
		}
		copy(want[off:], b)
	}
	fill := func(n int, c byte) []byte { return bytes.Repeat([]byte{c}, n) }
	put(tls, 0, fill(32, 'H'))         // the log header
	put(tls, 32, fill(24, 'a'))        // frame 1: header ...
	put(tls, 56, fill(4096, 'A'))      // ... and its page, one call
	put(tls, 4152, fill(24, 'b'))      // frame 2's header, then another thread
	put(other, 8272, fill(4096, 'X'))  // writes elsewhere meanwhile
	put(tls, 4176, fill(4096, 'B'))    // frame 2's page
	put(tls, 8272+4096, fill(24, 'c')) // a header not continued ...
	put(tls, 100, fill(10, 'z'))       // ... is written before the next write
	put(tls, 20000, fill(24, 'd'))     // and one at the end of the test,
	put(tls, 20024+10, fill(100, 'e')) // not where its page would be
	if _, ok := held[tls]; ok {
		t.Fatal("a 24-byte write is still held back after a write that does not continue it")
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("file differs from the writes SQLite made (%d and %d bytes)", len(got), len(want))
	}
}

// Opening a store puts framePwrite in place of the unix VFS's pwrite.
func TestFramePwriteInstalled(t *testing.T) {
	s, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "echt.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !frameInstalled {
		t.Fatal("the unix VFS's pwrite was not replaced")
	}
}
