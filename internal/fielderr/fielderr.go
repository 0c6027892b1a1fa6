package fielderr

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one problem with an input, at a path such as "groups[1].ring".
type Error struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// New returns the problem msg at path.
func New(path, msg string) *Error { return &Error{Path: path, Message: msg} }

// Errorf returns the problem at path with a formatted message.
func Errorf(path, format string, args ...any) *Error {
	return &Error{Path: path, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return e.Path + ": " + e.Message }

// Within returns err with its field paths placed under prefix: a problem at
// "rrule" found in the window at "groups[0].windows[1]" is at
// "groups[0].windows[1].rrule". An error that names no field becomes a
// problem at prefix itself.
func Within(prefix string, err error) []*Error {
	var l *List
	if errors.As(err, &l) {
		out := make([]*Error, len(l.Problems))
		for i, p := range l.Problems {
			out[i] = &Error{Path: join(prefix, p.Path), Message: p.Message}
		}
		return out
	}
	var e *Error
	if errors.As(err, &e) {
		return []*Error{{Path: join(prefix, e.Path), Message: e.Message}}
	}
	return []*Error{{Path: prefix, Message: err.Error()}}
}

func join(prefix, path string) string {
	switch {
	case prefix == "":
		return path
	case path == "":
		return prefix
	case strings.HasPrefix(path, "["):
		return prefix + path
	}
	return prefix + "." + path
}

// List is every problem found in one input, in input order. What names the
// input in the message ("policy", "rollout plan").
type List struct {
	What     string
	Problems []*Error
}

// Add records the problem at path.
func (l *List) Add(path, format string, args ...any) {
	l.Problems = append(l.Problems, Errorf(path, format, args...))
}

// Err returns l as an error, or nil when it holds no problem.
func (l *List) Err() error {
	if len(l.Problems) == 0 {
		return nil
	}
	return l
}

func (l *List) Error() string {
	prefix := "invalid " + l.What + ": "
	if l.What == "" {
		prefix = ""
	}
	if len(l.Problems) == 1 {
		return prefix + l.Problems[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s%d problems:", prefix, len(l.Problems))
	for _, p := range l.Problems {
		b.WriteString("\n  " + p.Error())
	}
	return b.String()
}

// Unwrap returns the problems, so errors.As finds the first *Error.
func (l *List) Unwrap() []error {
	errs := make([]error, len(l.Problems))
	for i, p := range l.Problems {
		errs[i] = p
	}
	return errs
}

// Problems returns the field problems in err: every problem of a *List, or
// the one *Error; nil when err names no field.
func Problems(err error) []*Error {
	var l *List
	if errors.As(err, &l) {
		return l.Problems
	}
	var e *Error
	if errors.As(err, &e) {
		return []*Error{e}
	}
	return nil
}
