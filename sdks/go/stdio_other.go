//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package plugd

import "os"

// takeStdout keeps the real stdout for the protocol and points os.Stdout at stderr. Only Go code that prints via
// os.Stdout (fmt.Println…) is redirected here; on this platform fd 1 itself is left alone.
func takeStdout() (*os.File, error) {
	out := os.Stdout
	os.Stdout = os.Stderr
	return out, nil
}
