package inventory

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	rpmversion "github.com/knqyf263/go-rpm-version"
)

func execLookPath(file string) (string, error) { return exec.LookPath(file) }

// readHostFacts fills hostname, kernel, arch, addresses and uptime.
func (col *collection) readHostFacts() {
	f := &col.snap.Facts
	if !col.live {
		f.Hostname = col.imageHostname()
		f.Kernel = col.imageKernel()
		f.Arch = archFromPackages(col.snap.Packages, f.PackageFormat)
		return
	}
	host, err := os.Hostname()
	if err != nil {
		col.problem("hostname: %v", err)
	}
	f.Hostname = host
	release, machine, err := col.c.uname()
	if err != nil {
		col.problem("uname: %v", err)
	}
	f.Kernel, f.Arch = release, machine
	f.Addresses, err = hostAddresses()
	if err != nil {
		col.problem("interface addresses: %v", err)
	}
	f.Uptime, err = readUptime()
	if err != nil {
		col.problem("uptime: %v", err)
	}
}

func (col *collection) imageHostname() string {
	data, err := col.fsys.ReadFile("etc/hostname")
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			col.problem("%s: %v", col.origin("etc/hostname"), err)
		}
		return ""
	}
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); line != "" && line[0] != '#' {
			return line
		}
	}
	return ""
}

// imageKernel is the newest kernel installed in an image: for rpm the
// kernel package with the highest version, otherwise the newest directory
// under lib/modules.
func (col *collection) imageKernel() string {
	if col.snap.Facts.PackageFormat == FormatRPM {
		if k, ok := newestKernelPackage(col.snap.Packages, ""); ok {
			return kernelRelease(k)
		}
		return ""
	}
	var newest string
	for _, dir := range []string{"lib/modules", "usr/lib/modules"} {
		d, err := col.fsys.Open(dir)
		if err != nil {
			continue
		}
		entries, _ := d.ReadDir(-1)
		d.Close()
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			if newest == "" || rpmversion.NewVersion(e.Name()).Compare(rpmversion.NewVersion(newest)) > 0 {
				newest = e.Name()
			}
		}
	}
	return newest
}

// dpkgToUname maps Debian architecture names to what uname -m prints.
var dpkgToUname = map[string]string{
	"amd64": "x86_64", "arm64": "aarch64", "i386": "i686", "armhf": "armv7l", "armel": "armv5tel",
	"ppc64el": "ppc64le", "ppc64": "ppc64", "s390x": "s390x", "riscv64": "riscv64", "mips64el": "mips64", "loong64": "loongarch64",
}

// archFromPackages returns the architecture most packages are built for,
// ignoring architecture-independent ones, in uname's words.
func archFromPackages(pkgs []Package, format Format) string {
	counts := map[string]int{}
	for _, p := range pkgs {
		switch p.Arch {
		case "", "all", "noarch", "any":
			continue
		}
		counts[p.Arch]++
	}
	best := ""
	for arch, n := range counts {
		if n > counts[best] || (n == counts[best] && arch < best) {
			best = arch
		}
	}
	if format == FormatDpkg {
		if u, ok := dpkgToUname[best]; ok {
			return u
		}
	}
	return best
}

// hostAddresses lists the host's addresses without loopback and link-local
// ones.
func hostAddresses() ([]string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip := ipnet.IP
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() {
			continue
		}
		out = append(out, ip.String())
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// readUptime reads the first field of /proc/uptime, seconds since boot.
func readUptime() (time.Duration, error) {
	data, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	return parseUptime(data)
}

func parseUptime(data []byte) (time.Duration, error) {
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return 0, errors.New("empty /proc/uptime")
	}
	secs, err := strconv.ParseFloat(fields[0], 64)
	if err != nil || secs < 0 {
		return 0, errors.New("malformed /proc/uptime: " + clip(fields[0]))
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// readLines returns the non-empty trimmed lines of a small text file.
func readLines(data []byte) []string {
	var lines []string
	for l := range strings.Lines(string(data)) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}
