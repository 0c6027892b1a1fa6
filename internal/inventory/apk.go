package inventory

import (
	"fmt"
	"io"
	"strings"
)

// ParseApkInstalled reads an apk installed database (/lib/apk/db/installed):
// records separated by blank lines, each line "X:value" with a one-letter
// key. It uses P (name), V (version), A (arch) and o (origin, the source
// package). A malformed record (a line that is no "X:value", no P or no V)
// is skipped and reported as a problem "origin:LINE: reason"; the other
// packages are still returned. The error is only for a failure to read r.
func ParseApkInstalled(r io.Reader, origin string) ([]Package, []string, error) {
	var (
		pkgs     []Package
		problems []string
		rec      *apkRecord
	)
	problemAt := func(line int, format string, args ...any) string {
		return fmt.Sprintf("%s:%d: %s", origin, line, fmt.Sprintf(format, args...))
	}
	flush := func() {
		if rec == nil {
			return
		}
		p, problem := rec.pkg()
		switch {
		case rec.bad != "":
			problems = append(problems, rec.bad)
		case problem != "":
			problems = append(problems, problemAt(rec.start, "%s", problem))
		default:
			pkgs = append(pkgs, p)
		}
		rec = nil
	}
	lr := newLineReader(r)
	for {
		line, tooLong, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return pkgs, problems, fmt.Errorf("read %s: %w", origin, err)
		}
		n := lr.n
		if strings.TrimSpace(line) == "" && !tooLong {
			flush()
			continue
		}
		if rec == nil {
			rec = &apkRecord{start: n, fields: map[byte]string{}}
		}
		if len(line) < 2 || line[1] != ':' {
			if rec.bad == "" {
				rec.bad = problemAt(n, "expected \"X:value\", got %q", clip(line))
			}
			continue
		}
		key := line[0]
		used := key == 'P' || key == 'V' || key == 'A' || key == 'o'
		if tooLong {
			problems = append(problems, problemAt(n, "line longer than %d bytes skipped", maxLineLen))
			if used && rec.bad == "" {
				rec.bad = problemAt(n, "field %c has an over-long line", key)
			}
			continue
		}
		if !used {
			continue // file lists, checksums and the like repeat freely
		}
		if _, dup := rec.fields[key]; dup && rec.bad == "" {
			rec.bad = problemAt(n, "duplicate field %c", key)
		}
		rec.fields[key] = strings.TrimSpace(line[2:])
	}
	flush()
	return pkgs, problems, nil
}

type apkRecord struct {
	start  int
	fields map[byte]string
	bad    string
}

func (rec *apkRecord) pkg() (Package, string) {
	p := Package{Name: rec.fields['P'], Version: rec.fields['V'], Arch: rec.fields['A'], Source: rec.fields['o']}
	switch {
	case p.Name == "":
		return p, "record has no P (package name)"
	case !isToken(p.Name):
		return p, fmt.Sprintf("malformed package name %q", clip(p.Name))
	case p.Version == "":
		return p, fmt.Sprintf("package %s has no V (version)", p.Name)
	case !isToken(p.Version):
		return p, fmt.Sprintf("package %s has malformed version %q", p.Name, clip(p.Version))
	case p.Arch != "" && !isToken(p.Arch):
		return p, fmt.Sprintf("package %s has malformed arch %q", p.Name, clip(p.Arch))
	case p.Source != "" && !isToken(p.Source):
		return p, fmt.Sprintf("package %s has malformed origin %q", p.Name, clip(p.Source))
	}
	if p.Source == "" {
		p.Source = p.Name
	}
	return p, ""
}
