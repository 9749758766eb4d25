//go:build darwin || freebsd || netbsd

package echt

import "syscall"

func ctimeOf(st *syscall.Stat_t) any { return st.Ctimespec }
