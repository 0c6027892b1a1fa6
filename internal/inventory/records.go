package inventory

import (
	"fmt"
	"io"
	"strings"
)

// recordDB reads a package database of records separated by blank lines,
// the layout of both the apk and the dpkg database, and gathers what its
// parser returns: the packages and the problems "origin:LINE: reason".
type recordDB struct {
	origin   string
	pkgs     []Package
	problems []string
}

// at formats a problem found at line n of the database.
func (db *recordDB) at(n int, format string, args ...any) string {
	return fmt.Sprintf("%s:%d: %s", db.origin, n, fmt.Sprintf(format, args...))
}

// add settles a record that started at line start: bad is the first
// problem found while reading it (already placed by at), problem one found
// in the whole record (placed here at start); a record with neither gives
// its package when ok.
func (db *recordDB) add(start int, bad, problem string, p Package, ok bool) {
	switch {
	case bad != "":
		db.problems = append(db.problems, bad)
	case problem != "":
		db.problems = append(db.problems, db.at(start, "%s", problem))
	case ok:
		db.pkgs = append(db.pkgs, p)
	}
}

// read calls line for each line of a record in r, with its 1-based number
// (an over-long line, cut short, is never taken for a blank one), and end
// after each record: at a blank line and at the end of r. The error is
// only for a failure to read r.
func (db *recordDB) read(r io.Reader, line func(n int, text string, tooLong bool), end func()) ([]Package, []string, error) {
	lr := newLineReader(r)
	for {
		text, tooLong, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return db.pkgs, db.problems, fmt.Errorf("read %s: %w", db.origin, err)
		}
		if strings.TrimSpace(text) == "" && !tooLong {
			end()
			continue
		}
		line(lr.n, text, tooLong)
	}
	end()
	return db.pkgs, db.problems, nil
}
