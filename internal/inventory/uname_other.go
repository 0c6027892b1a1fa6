//go:build !unix

package inventory

import "errors"

func uname() (release, machine string, err error) {
	return "", "", errors.New("uname is not available on this system")
}
