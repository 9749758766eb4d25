//go:build linux || darwin || freebsd || netbsd || openbsd

package echt

import (
	"io/fs"
	"syscall"
)

// changeTime is a file's inode change time: setting the modification time
// back (touch -r) changes it, so a running client notices such an edit.
func changeTime(fi fs.FileInfo) any {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return ctimeOf(st)
	}
	return nil
}
