//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package plugd

import (
	"os"
	"syscall"
)

// takeStdout keeps a private duplicate of fd 1 for the protocol and points fd 1 (and os.Stdout) at stderr, so
// everything that prints to stdout, including C code and child processes, lands in the plugin's log.
func takeStdout() (*os.File, error) {
	syscall.ForkLock.RLock()
	fd, err := syscall.Dup(1)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, err
	}
	if err := dupTo(2, 1); err != nil {
		syscall.Close(fd) //nolint:errcheck
		return nil, err
	}
	os.Stdout = os.Stderr
	return os.NewFile(uintptr(fd), "stdout (plugd protocol)"), nil
}
