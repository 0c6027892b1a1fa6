package sim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/patchbay/patchbay/internal/inventory"
)

// Base is one real package list with the OS it came from.
type Base struct {
	Name     string
	OS       inventory.OS
	Format   inventory.Format
	Packages []inventory.Package
}

// trivyPackage is one entry of a Trivy package-list golden file.
type trivyPackage struct {
	Name, Version, Release, Arch    string
	Epoch                           int
	SrcName, SrcVersion, SrcRelease string
	SrcEpoch                        int
}

// LoadBases reads the trivy-<os>-<release>.json package lists in dir.
func LoadBases(dir string) ([]Base, error) {
	files, err := filepath.Glob(filepath.Join(dir, "trivy-*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no trivy-*.json package lists in %s", dir)
	}
	sort.Strings(files)
	var bases []Base
	for _, f := range files {
		b, err := loadBase(f)
		if err != nil {
			return nil, err
		}
		bases = append(bases, b)
	}
	return bases, nil
}

func loadBase(path string) (Base, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Base{}, err
	}
	var list []trivyPackage
	if err := json.Unmarshal(data, &list); err != nil {
		return Base{}, fmt.Errorf("%s: %w", path, err)
	}
	name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "trivy-"), ".json")
	id, release, _ := strings.Cut(name, "-")
	b := Base{Name: name, OS: osFor(id, release)}
	switch id {
	case "alpine":
		b.Format = inventory.FormatApk
		b.OS.VersionID = "3.10.9"
	case "debian", "ubuntu":
		b.Format = inventory.FormatDpkg
	default:
		b.Format = inventory.FormatRPM
	}
	seen := map[string]bool{}
	for _, p := range list {
		pkg := inventory.Package{Name: p.Name, Version: evr(b.Format, p.Epoch, p.Version, p.Release), Arch: p.Arch,
			Source: p.SrcName, SourceVersion: evr(b.Format, p.SrcEpoch, p.SrcVersion, p.SrcRelease)}
		if pkg.Arch == "" {
			pkg.Arch = map[inventory.Format]string{inventory.FormatDpkg: "amd64", inventory.FormatRPM: "x86_64", inventory.FormatApk: "x86_64"}[b.Format]
		}
		if pkg.Source == "" {
			pkg.Source = pkg.Name
		}
		if pkg.SourceVersion == pkg.Version {
			pkg.SourceVersion = ""
		}
		if seen[pkg.Key()] {
			continue
		}
		seen[pkg.Key()] = true
		b.Packages = append(b.Packages, pkg)
	}
	return b, nil
}

func evr(f inventory.Format, epoch int, version, release string) string {
	if version == "" {
		return ""
	}
	v := version
	if release != "" {
		v += "-" + release
	}
	if epoch > 0 && !strings.Contains(v, ":") {
		v = strconv.Itoa(epoch) + ":" + v
	}
	return v
}

func osFor(id, release string) inventory.OS {
	pretty := map[string]string{
		"alpine": "Alpine Linux", "amazon": "Amazon Linux", "centos": "CentOS Linux", "debian": "Debian GNU/Linux",
		"fedora": "Fedora Linux", "opensuse": "openSUSE Leap", "oraclelinux": "Oracle Linux Server", "photon": "VMware Photon OS",
		"ubi": "Red Hat Enterprise Linux", "ubuntu": "Ubuntu",
	}[id]
	osID := map[string]string{"oraclelinux": "ol", "ubi": "rhel", "opensuse": "opensuse-leap"}[id]
	if osID == "" {
		osID = id
	}
	version := map[string]string{"alpine-310": "3.10", "amazon-2": "2", "centos-6": "6", "debian-buster": "10", "fedora-35": "35",
		"opensuse-leap-151": "15.1", "oraclelinux-8-slim": "8", "photon-30": "3.0", "ubi-7": "7", "ubuntu-18.04": "18.04"}[id+"-"+release]
	if version == "" {
		version = release
	}
	return inventory.OS{ID: osID, VersionID: version, Name: pretty, PrettyName: strings.TrimSpace(pretty + " " + version)}
}
