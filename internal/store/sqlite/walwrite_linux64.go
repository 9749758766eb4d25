//go:build linux && (amd64 || arm64)

package sqlite

import (
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"modernc.org/libc"
	sqlite3lib "modernc.org/sqlite/lib"
)

// SQLite writes each frame of its write-ahead log with two pwrite calls:
// the 24-byte frame header, then the page right after it
// (walWriteOneFrame). Each system call costs a few microseconds here, and
// an activation writes two to three frames from the store's single writer.
// installFramePwrite replaces the unix VFS's pwrite (through
// sqlite3_vfs.xSetSystemCall, SQLite's interface for this) with one that
// holds back a 24-byte write and sends it together with the write that
// continues it, in one pwritev: one system call per frame instead of two.
//
// What is held back is never visible to anyone before it is written: the
// header is followed at once, on the same thread, by its page, and SQLite
// makes frames visible to readers (the wal-index) only after writing them.
// A held-back write that is not continued by the next write on its thread
// is written on its own first, so the bytes and their order on disk are
// exactly SQLite's; only the number of calls changes. 24-byte writes are
// frame headers: in WAL mode the database file is written in whole pages
// and the log header is 32 bytes.
func installFramePwrite() {
	frameOnce.Do(func() {
		tls := libc.NewTLS()
		defer tls.Close()
		vfs := sqlite3lib.Xsqlite3_vfs_find(tls, 0)
		if vfs == 0 {
			return
		}
		v := (*sqlite3lib.Tsqlite3_vfs)(cPointer(vfs))
		if v.FiVersion < 3 || v.FxSetSystemCall == 0 {
			return
		}
		name, err := libc.CString("pwrite")
		if err != nil {
			return
		}
		defer libc.Xfree(tls, name)
		set := *(*func(*libc.TLS, uintptr, uintptr, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{v.FxSetSystemCall}))
		fn := framePwrite
		if set(tls, vfs, name, *(*uintptr)(unsafe.Pointer(&fn))) == sqlite3lib.SQLITE_OK {
			frameInstalled = true
		}
	})
}

var (
	frameOnce      sync.Once
	frameInstalled bool
	// held is the 24-byte write each thread (libc.TLS) holds back.
	heldMu sync.Mutex
	held   = map[*libc.TLS]*heldWrite{}
)

type heldWrite struct {
	fd  int32
	off int64
	buf [24]byte
}

// framePwrite has the C signature of pwrite as SQLite's unix VFS calls it:
// ssize_t pwrite(int fd, const void *buf, size_t n, off_t off).
func framePwrite(tls *libc.TLS, fd int32, buf uintptr, n uint64, off int64) int64 {
	heldMu.Lock()
	h := held[tls]
	if h != nil {
		delete(held, tls)
	}
	heldMu.Unlock()
	data := unsafe.Slice((*byte)(cPointer(buf)), n)
	if h != nil {
		if h.fd == fd && h.off+int64(len(h.buf)) == off {
			// The frame: header and page in one call.
			if err := writeAll(fd, [][]byte{h.buf[:], data}, h.off); err != nil {
				return fail(tls, err)
			}
			return int64(n)
		}
		if err := writeAll(h.fd, [][]byte{h.buf[:]}, h.off); err != nil {
			return fail(tls, err)
		}
	}
	if n == 24 {
		h = &heldWrite{fd: fd, off: off}
		h.buf = [24]byte(data)
		heldMu.Lock()
		held[tls] = h
		heldMu.Unlock()
		return int64(n)
	}
	if err := writeAll(fd, [][]byte{data}, off); err != nil {
		return fail(tls, err)
	}
	return int64(n)
}

// writeAll writes the buffers at off, continuing after a short write.
func writeAll(fd int32, bufs [][]byte, off int64) error {
	for len(bufs) > 0 {
		w, err := pwritev(int(fd), bufs, off)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if w == 0 {
			return syscall.EIO
		}
		off += int64(w)
		for w > 0 {
			if w >= len(bufs[0]) {
				w -= len(bufs[0])
				bufs = bufs[1:]
				continue
			}
			bufs[0] = bufs[0][w:]
			w = 0
		}
	}
	return nil
}

// pwritev is the system call for up to two buffers.
func pwritev(fd int, bufs [][]byte, off int64) (int, error) {
	var iov [2]syscall.Iovec
	k := 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		iov[k].Base = &b[0]
		iov[k].SetLen(len(b))
		k++
	}
	if k == 0 {
		return 0, nil
	}
	r, _, e := syscall.Syscall6(syscall.SYS_PWRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(k), uintptr(off), 0, 0)
	runtime.KeepAlive(bufs)
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}

// fail reports err to SQLite as a C call does: -1 and errno.
func fail(tls *libc.TLS, err error) int64 {
	errno, ok := err.(syscall.Errno)
	if !ok {
		errno = syscall.EIO
	}
	*(*int32)(cPointer(libc.X__errno_location(tls))) = int32(errno)
	return -1
}

// cPointer is an address in SQLite's C memory (libc's allocator, not Go's
// heap), which modernc.org hands around as a uintptr, as a pointer.
func cPointer(addr uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&addr)) }
