package advisory

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Kinds of feed files ReadAny recognises.
const (
	KindOSV         = "osv"
	KindAlpineSecDB = "alpine-secdb"
	KindKEV         = "kev"
	KindEPSS        = "epss"
)

// Kind recognises a feed file by its content, not its name: a zip is an
// OSV archive, gzip is EPSS, JSON with "catalogVersion" or "vulnerabilities"
// is CISA KEV, JSON with "distroversion" is Alpine secdb, other JSON is an
// OSV record; CSV whose header starts with "cveID" is KEV and with "cve" or
// a "#model_version" line is EPSS. A directory is a tree of OSV records.
func Kind(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if info.IsDir() {
		return KindOSV, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return KindOSV, nil
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return KindEPSS, nil
	}
	trimmed := bytes.TrimLeft(head, " \t\r\n\xef\xbb\xbf")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		if _, err := dec.Token(); err == nil {
			// Look at the top-level keys in the first 64 KiB.
			depth := 0
			for dec.More() || depth > 0 {
				tok, err := dec.Token()
				if err != nil {
					break
				}
				switch t := tok.(type) {
				case json.Delim:
					if t == '{' || t == '[' {
						depth++
					} else {
						depth--
					}
				case string:
					if depth != 0 {
						continue
					}
					switch t {
					case "catalogVersion", "vulnerabilities":
						return KindKEV, nil
					case "distroversion", "apkurl":
						return KindAlpineSecDB, nil
					case "affected", "schema_version", "modified":
						return KindOSV, nil
					}
					// Skip the value.
					var skip json.RawMessage
					if err := dec.Decode(&skip); err != nil {
						return "", fmt.Errorf("%s: unrecognised JSON feed", path)
					}
				}
			}
		}
		return "", fmt.Errorf("%s: JSON that is neither OSV, Alpine secdb nor CISA KEV", path)
	}
	line, _, _ := bufio.NewReader(bytes.NewReader(head)).ReadLine()
	l := strings.ToLower(strings.TrimPrefix(string(line), "\xef\xbb\xbf"))
	switch {
	case strings.HasPrefix(l, "cveid,"), strings.HasPrefix(l, `"cveid",`):
		return KindKEV, nil
	case strings.HasPrefix(l, "#model_version"), strings.HasPrefix(l, "cve,epss"):
		return KindEPSS, nil
	}
	return "", fmt.Errorf("%s: not a feed Patchbay knows (OSV JSON or zip, Alpine secdb JSON, CISA KEV JSON or CSV, EPSS CSV)", path)
}

// ReadAny reads one feed file or OSV directory of any kind Kind recognises.
func ReadAny(ctx context.Context, path string) (Feed, string, error) {
	return ReadAnyWith(ctx, path, ReadOptions{})
}

// ReadAnyWith is ReadAny with options (used by OSV reads).
func ReadAnyWith(ctx context.Context, path string, opts ReadOptions) (Feed, string, error) {
	kind, err := Kind(path)
	if err != nil {
		return Feed{}, "", err
	}
	name := filepath.Base(path)
	switch kind {
	case KindOSV:
		f, err := ReadOSVWith(ctx, path, opts)
		return f, kind, err
	}
	file, err := os.Open(path)
	if err != nil {
		return Feed{}, "", err
	}
	defer file.Close()
	switch kind {
	case KindAlpineSecDB:
		f, err := ReadAlpineSecDB(file, name)
		return f, kind, err
	case KindKEV:
		var entries []KEVEntry
		var rej []Rejection
		var info ModelInfo
		head := make([]byte, 512)
		n, _ := io.ReadFull(file, head)
		if _, err := file.Seek(0, io.SeekStart); err != nil {
			return Feed{}, "", err
		}
		if t := bytes.TrimLeft(head[:n], " \t\r\n\xef\xbb\xbf"); len(t) > 0 && t[0] == '{' {
			entries, info, rej, err = ReadKEVCatalog(file)
		} else {
			entries, rej, err = ReadKEVCSV(file)
		}
		return Feed{Name: name, Source: SourceKEV, KEV: entries, KEVCatalog: info, Rejected: rej}, kind, err
	default: // KindEPSS
		scores, model, rej, err := ReadEPSS(file)
		return Feed{Name: name, Source: SourceEPSS, EPSS: scores, EPSSModel: model, Rejected: rej}, kind, err
	}
}

// ReadDir reads every feed under dir: each subdirectory of OSV records
// and each recognisable file is one feed. Files that are not feeds are
// reported, not fatal.
func ReadDir(ctx context.Context, dir string) ([]Feed, []Rejection, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var feeds []Feed
	var rej []Rejection
	looseOSV := false
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if !e.IsDir() && strings.EqualFold(filepath.Ext(e.Name()), ".json") {
			if k, err := Kind(p); err == nil && k == KindOSV {
				looseOSV = true // loose OSV records are read together below
				continue
			}
		}
		if e.Type()&fs.ModeSymlink != 0 {
			if info, err := os.Stat(p); err != nil || info.IsDir() {
				rej = append(rej, Rejection{Record: p, Reason: "symbolic link skipped"})
				continue
			}
		}
		f, _, err := ReadAny(ctx, p)
		if err != nil {
			rej = append(rej, Rejection{Record: p, Reason: err.Error()})
			continue
		}
		feeds = append(feeds, f)
	}
	if looseOSV {
		f := Feed{Name: filepath.Base(dir), Source: SourceOSV}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if e.IsDir() || !strings.EqualFold(filepath.Ext(e.Name()), ".json") {
				continue
			}
			if k, err := Kind(p); err != nil || k != KindOSV {
				continue
			}
			one, err := ReadOSV(ctx, p)
			if err != nil {
				rej = append(rej, Rejection{Record: p, Reason: err.Error()})
				continue
			}
			f.Advisories = append(f.Advisories, one.Advisories...)
			f.Rejected = append(f.Rejected, one.Rejected...)
		}
		feeds = append(feeds, f)
	}
	return feeds, rej, nil
}
