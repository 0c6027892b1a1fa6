package inventory

import (
	"fmt"
	"io"
	"strings"
)

// ParseDpkgStatus reads a dpkg status database (/var/lib/dpkg/status): RFC
// 822 style stanzas separated by blank lines. It returns the packages whose
// Status is installed (want "install" or "hold", state "installed"); other
// stanzas are skipped silently. A malformed stanza (a line that is no
// field, no Package or Version, a Status or Source it cannot read) is
// skipped and reported as a problem "origin:LINE: reason"; the other
// packages are still returned. The error is only for a failure to read r.
//
// Versions are kept exactly as written ("1:2.3-4"). Source defaults to the
// package name; "Source: name (version)" sets SourceVersion.
func ParseDpkgStatus(r io.Reader, origin string) ([]Package, []string, error) {
	return parseDpkg(r, origin, false)
}

// dpkgStanza is one stanza being read. Field names are lower-cased because
// dpkg compares them without regard to case.
type dpkgStanza struct {
	start   int // line of the stanza's first field
	fields  map[string]string
	current string // field that continuation lines extend; "" when none
	bad     string // first problem in the stanza, already prefixed
}

// dpkgFieldsUsed are the fields whose loss makes a stanza unusable.
var dpkgFieldsUsed = map[string]bool{"package": true, "version": true, "architecture": true, "source": true, "status": true}

// parseDpkg reads stanzas. statusOptional is set for status.d files, which
// carry no Status field in distroless images: a stanza without one counts
// as installed.
func parseDpkg(r io.Reader, origin string, statusOptional bool) ([]Package, []string, error) {
	db := &recordDB{origin: origin}
	var st *dpkgStanza
	end := func() {
		if st != nil {
			p, problem, ok := st.pkg(statusOptional)
			db.add(st.start, st.bad, problem, p, ok)
			st = nil
		}
	}
	return db.read(r, func(n int, line string, tooLong bool) {
		if st == nil {
			st = &dpkgStanza{start: n, fields: map[string]string{}}
		}
		continuation := line[0] == ' ' || line[0] == '\t'
		if tooLong {
			// Keep the stanza unless the lost line holds a field we use.
			db.problems = append(db.problems, db.at(n, "line longer than %d bytes skipped", maxLineLen))
			if continuation {
				if dpkgFieldsUsed[st.current] && st.bad == "" {
					st.bad = db.at(n, "field %q has an over-long line", st.current)
				}
				return
			}
			name, _, _ := strings.Cut(line, ":")
			name = strings.ToLower(strings.TrimSpace(name))
			if dpkgFieldsUsed[name] && st.bad == "" {
				st.bad = db.at(n, "field %q has an over-long line", name)
			}
			st.current = "" // its continuation lines belong to the lost field
			return
		}
		if continuation {
			if st.current == "" {
				if st.bad == "" && len(st.fields) == 0 {
					st.bad = db.at(n, "continuation line before any field")
				}
				return
			}
			st.fields[st.current] += "\n" + strings.TrimSpace(line)
			return
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.ToLower(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			if st.bad == "" {
				st.bad = db.at(n, "expected \"Field: value\", got %q", clip(line))
			}
			st.current = ""
			return
		}
		if _, dup := st.fields[name]; dup && st.bad == "" {
			st.bad = db.at(n, "duplicate field %q", name)
		}
		st.fields[name] = strings.TrimSpace(value)
		st.current = name
	}, end)
}

// pkg turns a complete stanza into a Package. ok is false for a stanza
// that is not installed; problem says why a stanza is unusable. Every
// stanza needs a Package; the status file also needs a Status.
func (st *dpkgStanza) pkg(statusOptional bool) (p Package, problem string, ok bool) {
	p.Name = st.fields["package"]
	p.Version = st.fields["version"]
	p.Arch = st.fields["architecture"]
	if p.Name == "" {
		return p, "stanza has no Package", false
	}
	if !isToken(p.Name) {
		return p, fmt.Sprintf("malformed Package %q", clip(p.Name)), false
	}
	if status, ok := st.fields["status"]; ok {
		words := strings.Fields(status)
		if len(words) != 3 {
			return p, fmt.Sprintf("package %s has malformed Status %q", p.Name, clip(status)), false
		}
		if (words[0] != "install" && words[0] != "hold") || words[2] != "installed" {
			return p, "", false
		}
	} else if !statusOptional {
		return p, fmt.Sprintf("package %s has no Status", p.Name), false
	}
	switch {
	case p.Version == "":
		return p, fmt.Sprintf("package %s has no Version", p.Name), false
	case !isToken(p.Version):
		return p, fmt.Sprintf("package %s has malformed Version %q", p.Name, clip(p.Version)), false
	case p.Arch != "" && !isToken(p.Arch):
		return p, fmt.Sprintf("package %s has malformed Architecture %q", p.Name, clip(p.Arch)), false
	}
	p.Source = p.Name
	if src, ok := st.fields["source"]; ok && src != "" {
		name, version, err := parseDpkgSource(src)
		if err != "" {
			return p, fmt.Sprintf("package %s: %s", p.Name, err), false
		}
		p.Source, p.SourceVersion = name, version
	}
	return p, "", true
}

// parseDpkgSource reads "name" or "name (version)".
func parseDpkgSource(s string) (name, version, problem string) {
	name, rest, hasVersion := strings.Cut(s, "(")
	name = strings.TrimSpace(name)
	if !isToken(name) {
		return "", "", fmt.Sprintf("malformed Source %q", clip(s))
	}
	if !hasVersion {
		return name, "", ""
	}
	version, tail, closed := strings.Cut(rest, ")")
	version = strings.TrimSpace(version)
	if !closed || strings.TrimSpace(tail) != "" || !isToken(version) {
		return "", "", fmt.Sprintf("malformed Source %q", clip(s))
	}
	return name, version, ""
}

// isToken reports whether s is a non-empty single word: package names,
// versions and architectures never hold spaces or control characters.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// clip shortens a value quoted in a problem.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
