package inventory

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	rpmversion "github.com/knqyf263/go-rpm-version"
)

// maxRebootReasons bounds the reasons taken from reboot-required.pkgs.
const maxRebootReasons = 64

// rebootFlagDirs hold Debian and Ubuntu's reboot-required flag. var/run is
// usually a symbolic link to /run, which os.Root does not follow, so both
// are looked at.
var rebootFlagDirs = []string{"var/run", "run"}

// kernelPackages are the rpm package names that install a bootable kernel
// (RHEL and clones, Oracle UEK, real-time, SUSE, ELRepo).
var kernelPackages = []string{
	"kernel", "kernel-core", "kernel-uek", "kernel-uek-core", "kernel-rt", "kernel-rt-core",
	"kernel-64k-core", "kernel-default", "kernel-lt", "kernel-ml",
}

func (col *collection) readRebootRequired() {
	f := &col.snap.Facts
	var reasons []string
	flagged := false
	for _, dir := range rebootFlagDirs {
		if !col.exists(path.Join(dir, "reboot-required")) {
			continue
		}
		flagged = true
		data, err := col.fsys.ReadFile(path.Join(dir, "reboot-required.pkgs"))
		if err != nil {
			continue
		}
		for _, pkg := range readLines(data) {
			if !slices.Contains(reasons, pkg) && len(reasons) < maxRebootReasons {
				reasons = append(reasons, pkg)
			}
		}
	}
	if flagged && len(reasons) == 0 {
		reasons = append(reasons, "reboot-required flag set")
	}
	// The running kernel is the live host's; an image's is not its own.
	if col.live && f.PackageFormat == FormatRPM {
		needsRestarting := false
		if _, err := col.c.lookPath("needs-restarting"); err == nil {
			needsRestarting = true
		}
		r, problems := col.rpmRebootReasons(f.Kernel, needsRestarting)
		reasons = append(reasons, r...)
		col.snap.Problems = append(col.snap.Problems, problems...)
	}
	f.RebootRequired = flagged || len(reasons) > 0
	f.RebootReasons = reasons
}

// rpmRebootReasons compares the running kernel with the newest installed
// kernel package and, when asked, runs needs-restarting -r (exit code 1
// means a reboot is needed).
func (col *collection) rpmRebootReasons(running string, needsRestarting bool) (reasons, problems []string) {
	if reason := kernelRebootReason(running, col.snap.Packages); reason != "" {
		reasons = append(reasons, reason)
	}
	if !needsRestarting {
		return reasons, problems
	}
	out, err := col.c.Runner.Output(col.ctx, "needs-restarting", "-r")
	var exit interface{ ExitCode() int }
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		reasons = append(reasons, "needs-restarting -r: "+summarize(out))
	default:
		problems = append(problems, fmt.Sprintf("needs-restarting -r: %v", err))
	}
	return reasons, problems
}

// summarize joins a command's output lines into one bounded reason.
func summarize(out []byte) string {
	s := strings.Join(readLines(out), "; ")
	if s == "" {
		return "reboot required"
	}
	const max = 300
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// kernelRebootReason says "running kernel X older than installed Y" when a
// newer kernel of the running kernel's flavour is installed, "" otherwise.
// The flavour is the package the running kernel came from (kernel-core,
// kernel-uek...); when that package is no longer installed every kernel
// package counts, keeping UEK and non-UEK kernels apart.
func kernelRebootReason(running string, pkgs []Package) string {
	if running == "" {
		return ""
	}
	flavour := ""
	for _, p := range pkgs {
		if slices.Contains(kernelPackages, p.Name) && kernelRelease(p) == running {
			flavour = p.Name
			break
		}
	}
	if flavour == "" {
		// The running kernel's package is gone: pick by UEK or not.
		flavour = "!uek"
		if strings.Contains(running, "uek") {
			flavour = "uek"
		}
	}
	newest, ok := newestKernelPackage(pkgs, flavour)
	if !ok {
		return ""
	}
	installed := rpmversion.NewVersion(stripEpoch(newest.Version))
	if installed.Compare(rpmversion.NewVersion(runningVersionRelease(running, newest.Arch))) <= 0 {
		return ""
	}
	return fmt.Sprintf("running kernel %s older than installed %s", running, kernelRelease(newest))
}

// newestKernelPackage returns the kernel package with the highest version.
// flavour "" means any kernel package, a package name means only that
// one, "uek" and "!uek" mean UEK packages or all others.
func newestKernelPackage(pkgs []Package, flavour string) (Package, bool) {
	var newest Package
	found := false
	for _, p := range pkgs {
		if !slices.Contains(kernelPackages, p.Name) {
			continue
		}
		isUEK := strings.Contains(p.Name, "uek")
		switch flavour {
		case "":
		case "uek":
			if !isUEK {
				continue
			}
		case "!uek":
			if isUEK {
				continue
			}
		default:
			if p.Name != flavour {
				continue
			}
		}
		if !found || rpmversion.NewVersion(p.Version).Compare(rpmversion.NewVersion(newest.Version)) > 0 {
			newest, found = p, true
		}
	}
	return newest, found
}

// kernelRelease is the uname -r of an rpm kernel package: "V-R.ARCH".
func kernelRelease(p Package) string {
	r := stripEpoch(p.Version)
	if p.Arch != "" {
		r += "." + p.Arch
	}
	return r
}

// runningVersionRelease turns uname -r ("5.14.0-427.el9.x86_64",
// "5.14.0-427.el9.x86_64+debug") into the package's version-release.
func runningVersionRelease(running, arch string) string {
	r, _, _ := strings.Cut(running, "+")
	if arch != "" {
		r = strings.TrimSuffix(r, "."+arch)
	}
	return r
}

func stripEpoch(v string) string {
	if i := strings.IndexByte(v, ':'); i >= 0 {
		return v[i+1:]
	}
	return v
}
