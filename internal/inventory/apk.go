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
	db := &recordDB{origin: origin}
	var rec *apkRecord
	end := func() {
		if rec != nil {
			p, problem := rec.pkg()
			db.add(rec.start, rec.bad, problem, p, true)
			rec = nil
		}
	}
	return db.read(r, func(n int, line string, tooLong bool) {
		if rec == nil {
			rec = &apkRecord{start: n, fields: map[byte]string{}}
		}
		if len(line) < 2 || line[1] != ':' {
			if rec.bad == "" {
				rec.bad = db.at(n, "expected \"X:value\", got %q", clip(line))
			}
			return
		}
		key := line[0]
		used := key == 'P' || key == 'V' || key == 'A' || key == 'o'
		if tooLong {
			db.problems = append(db.problems, db.at(n, "line longer than %d bytes skipped", maxLineLen))
			if used && rec.bad == "" {
				rec.bad = db.at(n, "field %c has an over-long line", key)
			}
			return
		}
		if !used {
			return // file lists, checksums and the like repeat freely
		}
		if _, dup := rec.fields[key]; dup && rec.bad == "" {
			rec.bad = db.at(n, "duplicate field %c", key)
		}
		rec.fields[key] = strings.TrimSpace(line[2:])
	}, end)
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
