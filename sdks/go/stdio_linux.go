//go:build linux

package plugd

import "syscall"

// dupTo makes newfd a copy of oldfd (Dup2 does not exist on every Linux architecture; Dup3 does).
func dupTo(oldfd, newfd int) error { return syscall.Dup3(oldfd, newfd, 0) }
