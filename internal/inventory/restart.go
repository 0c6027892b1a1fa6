package inventory

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"
)

// Bounds on what the restart detectors may report. Their output is
// untrusted: a name that is not a well-formed systemd service unit is
// dropped, never passed on.
const (
	// MaxRestartServices bounds Facts.ServicesNeedingRestart.
	MaxRestartServices = 256
	// maxUnitName is systemd's UNIT_NAME_MAX.
	maxUnitName = 256
)

// Restarts is what a restart detector (needrestart on Debian and Ubuntu,
// needs-restarting on the RHEL family) says about a live host.
type Restarts struct {
	// Services are the systemd service units that run outdated binaries or
	// libraries, sorted, each a valid unit name ending in ".service".
	Services []string
	// Reboot says why the host needs a reboot instead (the kernel or the
	// CPU microcode has a pending upgrade); empty when it does not.
	Reboot string
	// Dropped counts lines naming a service that were refused as malformed.
	Dropped int
}

// ValidServiceUnit reports whether s is a systemd service unit name that is
// safe to pass to systemctl: 1-256 bytes of [A-Za-z0-9:_.@-] and \xNN
// escapes, not starting with '-' or '.', ending in ".service" with a
// non-empty prefix. Template units without an instance ("getty@.service")
// cannot be restarted and are refused.
func ValidServiceUnit(s string) bool {
	const suffix = ".service"
	if len(s) <= len(suffix) || len(s) > maxUnitName || !strings.HasSuffix(s, suffix) {
		return false
	}
	if s[0] == '-' || s[0] == '.' || strings.HasSuffix(s, "@"+suffix) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == ':' || c == '_' || c == '.' || c == '@' || c == '-':
		case c == '\\':
			// systemd escapes other bytes as \xNN.
			if i+3 >= len(s) || s[i+1] != 'x' || !isHex(s[i+2]) || !isHex(s[i+3]) {
				return false
			}
			i += 3
		default:
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// ParseNeedrestartBatch reads the output of `needrestart -b`: lines of
// "NEEDRESTART-KEY: value". NEEDRESTART-SVC names a service to restart;
// NEEDRESTART-KSTA 2 or 3 means a newer kernel is installed than the one
// running (ABI-compatible or version upgrade pending), and
// NEEDRESTART-UCSTA 2 a pending microcode update: both need a reboot.
// Other keys (sessions, containers, versions) are ignored.
func ParseNeedrestartBatch(out []byte) Restarts {
	var r Restarts
	var kcur, kexp string
	kernel, microcode := false, false
	for _, line := range readLines(out) {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch key {
		case "NEEDRESTART-SVC":
			r.addService(value)
		case "NEEDRESTART-KCUR":
			kcur = value
		case "NEEDRESTART-KEXP":
			kexp = value
		case "NEEDRESTART-KSTA":
			kernel = value == "2" || value == "3"
		case "NEEDRESTART-UCSTA":
			microcode = value == "2"
		}
	}
	switch {
	case kernel && validKernelRelease(kcur) && validKernelRelease(kexp):
		r.Reboot = fmt.Sprintf("needrestart: running kernel %s, expected %s", kcur, kexp)
	case kernel:
		r.Reboot = "needrestart: a kernel upgrade is pending"
	case microcode:
		r.Reboot = "needrestart: a CPU microcode update is pending"
	}
	r.finish()
	return r
}

// ParseNeedsRestartingServices reads the output of `needs-restarting -s`
// (dnf-utils, dnf5): one service unit per line. Names without a unit
// suffix are taken as services ("sshd" is "sshd.service"); lines with
// spaces are messages and skipped.
func ParseNeedsRestartingServices(out []byte) Restarts {
	var r Restarts
	for _, line := range readLines(out) {
		if strings.ContainsAny(line, " \t") {
			continue // a message ("Updating Subscription Management repositories."), not a unit
		}
		if !strings.Contains(line, ".") {
			line += ".service"
		}
		r.addService(line)
	}
	r.finish()
	return r
}

func (r *Restarts) addService(name string) {
	if !ValidServiceUnit(name) {
		r.Dropped++
		return
	}
	if len(r.Services) < MaxRestartServices && !slices.Contains(r.Services, name) {
		r.Services = append(r.Services, name)
	}
}

func (r *Restarts) finish() { slices.Sort(r.Services) }

// validKernelRelease accepts what uname -r prints, to quote it in a reason.
func validKernelRelease(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._+-~", c) >= 0) {
			return false
		}
	}
	return true
}

// RestartCache keeps the last restart detection of a live host, so that
// check-ins do not run needrestart or needs-restarting (seconds of CPU
// each) every minute. A result is reused while the package set is the one
// it was detected on and it is younger than TTL; an install or removal
// therefore always detects afresh. CollectFresh ignores it (and refreshes
// it). Safe for concurrent use.
type RestartCache struct {
	TTL time.Duration

	mu       sync.Mutex
	key      uint64
	at       time.Time
	restarts Restarts
	tool     string
	valid    bool
}

func (c *RestartCache) get(key uint64, now time.Time) (Restarts, string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid || c.key != key || now.Sub(c.at) >= c.TTL || now.Before(c.at) {
		return Restarts{}, "", false
	}
	return c.restarts, c.tool, true
}

func (c *RestartCache) put(key uint64, now time.Time, r Restarts, tool string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.key, c.at, c.restarts, c.tool, c.valid = key, now, r, tool, true
}

// packagesKey fingerprints the package set a detection ran against,
// whatever order the database listed it in.
func packagesKey(format Format, pkgs []Package) uint64 {
	sum := uint64(len(pkgs))
	for _, p := range pkgs {
		h := fnv.New64a()
		h.Write([]byte(string(format) + "\x00" + p.Name + "\x00" + p.Arch + "\x00" + p.Version))
		sum += h.Sum64()
	}
	return sum
}

// readRestarts asks the host's restart detector which services run
// outdated code. Only a live host is asked: an image runs nothing. A
// pending kernel upgrade is a reboot reason; a missing detector is not a
// problem (the host then reports no services).
func (col *collection) readRestarts() {
	if !col.live {
		return
	}
	f := &col.snap.Facts
	cache := col.c.RestartCache
	var key uint64
	now := time.Time{}
	if cache != nil {
		key = packagesKey(f.PackageFormat, col.snap.Packages)
		now = col.c.now()
	}
	r, tool, ok := Restarts{}, "", false
	if cache != nil && !col.c.fresh {
		r, tool, ok = cache.get(key, now)
	}
	if !ok {
		r, tool, ok = col.detectRestarts()
		if !ok {
			return
		}
		if cache != nil {
			cache.put(key, now, r, tool)
		}
	}
	if r.Dropped > 0 {
		col.problem("%s: %d malformed service names ignored", tool, r.Dropped)
	}
	f.ServicesNeedingRestart = slices.Clone(r.Services)
	if r.Reboot != "" {
		f.RebootRequired = true
		if len(f.RebootReasons) < maxRebootReasons && !slices.Contains(f.RebootReasons, r.Reboot) {
			f.RebootReasons = append(f.RebootReasons, r.Reboot)
		}
	}
}

// detectRestarts runs the detector of the host's package format. It
// reports false when there is none, or it failed (a problem says so).
func (col *collection) detectRestarts() (Restarts, string, bool) {
	switch col.snap.Facts.PackageFormat {
	case FormatDpkg:
		const tool = "needrestart"
		if _, err := col.c.lookPath(tool); err != nil {
			return Restarts{}, "", false
		}
		out, err := col.c.Runner.Output(col.ctx, tool, "-b")
		if err != nil {
			col.problem("needrestart -b: %v", err)
			return Restarts{}, "", false
		}
		return ParseNeedrestartBatch(out), tool, true
	case FormatRPM:
		const tool = "needs-restarting"
		if _, err := col.c.lookPath(tool); err != nil {
			return Restarts{}, "", false
		}
		out, err := col.c.Runner.Output(col.ctx, tool, "-s")
		// dnf5 exits 1 when a service needs restarting.
		var exit interface{ ExitCode() int }
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
			col.problem("needs-restarting -s: %v", err)
			return Restarts{}, "", false
		}
		return ParseNeedsRestartingServices(out), tool, true
	}
	return Restarts{}, "", false
}
