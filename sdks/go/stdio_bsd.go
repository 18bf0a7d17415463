//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package plugd

import "syscall"

// dupTo makes newfd a copy of oldfd.
func dupTo(oldfd, newfd int) error { return syscall.Dup2(oldfd, newfd) }
