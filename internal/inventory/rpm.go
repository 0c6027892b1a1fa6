package inventory

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// rpmQueryFormat makes rpm print one line per package, fields separated by
// tabs. %{EPOCH} rather than %{EPOCHNUM} because the rpm of EL6 and EL7
// lacks EPOCHNUM; an unset epoch prints "(none)".
const rpmQueryFormat = `%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\n`

// rpmQueryFields is the number of fields rpmQueryFormat prints.
const rpmQueryFields = 6

// queryRPM lists the packages in the rpm database under root by running rpm
// through runner. rpm reads every database backend (Berkeley DB, ndb,
// sqlite) itself, so Patchbay needs no cgo and no database code of its own.
//
// The database directory is passed with --dbpath rather than left to the
// rpm binary's %_dbpath: Debian's and Ubuntu's rpm keep their database in
// ~/.rpmdb, so `rpm --root IMAGE -qa` there reads IMAGE/root/.rpmdb, finds
// nothing and exits 0, which would report an RHEL image as having no
// packages.
func queryRPM(ctx context.Context, runner Runner, root string) ([]Package, []string, error) {
	args := []string{"--root", root}
	if dbpath := RPMDatabaseDir(root); dbpath != "" {
		args = append(args, "--dbpath", dbpath)
	}
	out, err := runner.Output(ctx, "rpm", append(args, "-qa", "--qf", rpmQueryFormat)...)
	if err != nil {
		return nil, nil, fmt.Errorf("query rpm database under %s: %w", root, err)
	}
	return ParseRPMQuery(out, "rpm -qa")
}

// RPMDatabaseDir returns where the image (or host) at root keeps its rpm
// database, as an absolute path inside root the way rpm's --dbpath and the
// %_dbpath macro want it: "/var/lib/rpm" (also a link to
// /usr/lib/sysimage/rpm on newer Fedora, RHEL and SUSE) or
// "/usr/lib/sysimage/rpm". It returns "" when root has no rpm database.
// Links are followed only inside root.
func RPMDatabaseDir(root string) string {
	if root == "" {
		root = "/"
	}
	fsys, err := os.OpenRoot(root)
	if err != nil {
		return ""
	}
	defer fsys.Close()
	for _, rel := range rpmDBPaths {
		if _, err := fsys.Stat(rel); err != nil {
			continue
		}
		if dir, _, isFile := strings.Cut(rel, "/rpm/"); isFile {
			return "/" + dir + "/rpm" // a database file: its directory
		}
		return "/" + rel
	}
	return ""
}

// ParseRPMQuery reads the output of rpm -qa with rpmQueryFormat: per line
// NAME, EPOCH, VERSION, RELEASE, ARCH and SOURCERPM separated by tabs.
//
//   - Version is "E:V-R", without "E:" when the epoch is unset or 0.
//   - Source is the name of the source rpm ("openssl" for
//     "openssl-3.0.7-27.el9.src.rpm"), SourceVersion its version-release
//     with the binary's epoch (a source rpm file name carries none), left
//     empty when it equals Version. A source rpm of "(none)" means Source =
//     Name; one that cannot be read is reported as a problem and the
//     package is kept with Source = Name.
//   - Arch "(none)" (rpm prints it for packages built without one) becomes
//     "", meaning not recorded; it is not guessed as "noarch".
//   - gpg-pubkey entries are keys imported into the database, not
//     packages, and are skipped.
//
// A line without six fields, or with an empty name or version or a bad
// epoch, is skipped and reported as a problem "origin:LINE: reason". The
// error is reserved for future use and is always nil today.
func ParseRPMQuery(out []byte, origin string) ([]Package, []string, error) {
	var (
		pkgs     []Package
		problems []string
	)
	n := 0
	for len(out) > 0 {
		var line []byte
		line, out, _ = bytes.Cut(out, []byte{'\n'})
		n++
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		p, problem, ok := parseRPMLine(string(line))
		if problem != "" {
			problems = append(problems, fmt.Sprintf("%s:%d: %s", origin, n, problem))
		}
		if ok {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs, problems, nil
}

func parseRPMLine(line string) (p Package, problem string, ok bool) {
	f := strings.Split(line, "\t")
	if len(f) != rpmQueryFields {
		return p, fmt.Sprintf("expected %d tab-separated fields, got %d in %q", rpmQueryFields, len(f), clip(line)), false
	}
	name, epoch, version, release, arch, srpm := f[0], f[1], f[2], f[3], f[4], f[5]
	if name == "gpg-pubkey" {
		return p, "", false
	}
	switch {
	case !isToken(name):
		return p, fmt.Sprintf("malformed name %q", clip(name)), false
	case !isToken(version) || strings.Contains(version, "-"):
		return p, fmt.Sprintf("package %s has malformed version %q", name, clip(version)), false
	case release != "" && (!isToken(release) || strings.Contains(release, "-")):
		return p, fmt.Sprintf("package %s has malformed release %q", name, clip(release)), false
	case arch != "" && !isToken(arch):
		return p, fmt.Sprintf("package %s has malformed arch %q", name, clip(arch)), false
	}
	epochPrefix := ""
	switch epoch {
	case "(none)", "", "0":
	default:
		e, err := strconv.ParseUint(epoch, 10, 32)
		if err != nil {
			return p, fmt.Sprintf("package %s has malformed epoch %q", name, clip(epoch)), false
		}
		if e != 0 {
			epochPrefix = strconv.FormatUint(e, 10) + ":"
		}
	}
	vr := version
	if release != "" && release != "(none)" {
		vr += "-" + release
	}
	p = Package{Name: name, Version: epochPrefix + vr, Arch: arch, Source: name}
	if arch == "(none)" {
		p.Arch = ""
	}
	if srpm == "(none)" || srpm == "" {
		return p, "", true
	}
	srcName, srcVR, ok := splitSourceRPM(srpm)
	if !ok {
		return p, fmt.Sprintf("package %s has unreadable source rpm %q; source taken as %s", name, clip(srpm), name), true
	}
	p.Source = srcName
	if srcVR != vr {
		p.SourceVersion = epochPrefix + srcVR
	}
	return p, "", true
}

// splitSourceRPM splits a source rpm file name
// "openssl-3.0.7-27.el9.src.rpm" into name "openssl" and version-release
// "3.0.7-27.el9". Names may contain dashes; version and release may not.
func splitSourceRPM(s string) (name, versionRelease string, ok bool) {
	base, found := strings.CutSuffix(s, ".src.rpm")
	if !found {
		base, found = strings.CutSuffix(s, ".nosrc.rpm")
	}
	if !found || !isToken(base) {
		return "", "", false
	}
	r := strings.LastIndexByte(base, '-')
	if r <= 0 {
		return "", "", false
	}
	v := strings.LastIndexByte(base[:r], '-')
	if v <= 0 || v+1 == r || r+1 == len(base) {
		return "", "", false
	}
	return base[:v], base[v+1:], true
}
