package scan

import (
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/version"
)

func compareGE(f inventory.Format, a, b string) bool {
	eco := version.Generic
	switch f {
	case inventory.FormatDpkg:
		eco = version.Dpkg
	case inventory.FormatRPM:
		eco = version.RPM
	case inventory.FormatApk:
		eco = version.Apk
	}
	c, err := version.Compare(eco, a, b)
	return err == nil && c >= 0
}
