package inventory

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// osReleasePaths are where os-release(5) says to look, in order, relative
// to the root.
var osReleasePaths = []string{"etc/os-release", "usr/lib/os-release"}

// ParseOSRelease reads an os-release file: KEY=value lines whose values
// follow shell quoting (single quotes, double quotes, backslash escapes).
// Blank lines and lines starting with "#" are ignored. ID defaults to
// "linux" as os-release(5) says. Codename is VERSION_CODENAME, falling back
// to UBUNTU_CODENAME (older Ubuntu releases set only that).
//
// A line it cannot read does not stop it: it returns what it read together
// with an error naming the first bad line.
func ParseOSRelease(r io.Reader) (OS, error) {
	var (
		os       OS
		firstErr error
		ubuntuCN string
	)
	lr := newLineReader(r)
	for {
		line, tooLong, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return os, fmt.Errorf("read os-release: %w", err)
		}
		key, value, err := parseOSReleaseLine(line, tooLong)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("os-release line %d: %w", lr.n, err)
			}
			continue
		}
		switch key {
		case "ID":
			os.ID = value
		case "ID_LIKE":
			os.IDLike = strings.Fields(value)
		case "VERSION_ID":
			os.VersionID = value
		case "NAME":
			os.Name = value
		case "PRETTY_NAME":
			os.PrettyName = value
		case "VERSION_CODENAME":
			os.Codename = value
		case "UBUNTU_CODENAME":
			ubuntuCN = value
		}
	}
	if os.Codename == "" {
		os.Codename = ubuntuCN
	}
	if os.ID == "" {
		os.ID = "linux"
	}
	return os, firstErr
}

// parseOSReleaseLine returns key "" for a line that holds no assignment.
func parseOSReleaseLine(line string, tooLong bool) (key, value string, err error) {
	if tooLong {
		return "", "", fmt.Errorf("longer than %d bytes", maxLineLen)
	}
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return "", "", nil
	}
	key, raw, ok := strings.Cut(line, "=")
	if !ok || !isShellName(key) {
		return "", "", fmt.Errorf("expected KEY=value, got %q", clip(line))
	}
	value, err = unquoteShell(raw)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", key, err)
	}
	return key, value, nil
}

func isShellName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', 'A' <= r && r <= 'Z', 'a' <= r && r <= 'z':
		case '0' <= r && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// unquoteShell reads one shell word as a POSIX shell would assign it,
// without expansions: '...' is literal, "..." allows \ before $ ` " \ and
// newline, and a bare \ escapes any character.
func unquoteShell(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return "", errors.New("unterminated single quote")
			}
			b.WriteString(s[i+1 : i+1+end])
			i += end + 1
		case '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return "", errors.New("unterminated double quote")
			}
		case '\\':
			if i+1 >= len(s) {
				return "", errors.New("backslash at end of value")
			}
			i++
			b.WriteByte(s[i])
		case ' ', '\t':
			return "", errors.New("unquoted space in value")
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
