//go:build unix

package inventory

import "golang.org/x/sys/unix"

// uname returns the running kernel's release ("6.1.0-18-amd64") and the
// machine ("x86_64") as uname -r and uname -m print them.
func uname() (release, machine string, err error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", "", err
	}
	return unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Machine[:]), nil
}
