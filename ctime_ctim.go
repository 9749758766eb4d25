//go:build linux || openbsd

package echt

import "syscall"

func ctimeOf(st *syscall.Stat_t) any { return st.Ctim }
