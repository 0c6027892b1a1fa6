package advisory

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// MaxEPSSSize bounds the decompressed EPSS file, in bytes (the full file is
// about 12 MB for 360,000 CVEs).
const MaxEPSSSize = 1 << 30

// EPSSScore is one CVE's EPSS probability and percentile, both in [0, 1].
type EPSSScore struct {
	CVE        string
	Score      float64
	Percentile float64
}

// ModelInfo is what the optional first line of an EPSS file says:
// "#model_version:v2023.03.01,score_date:2023-03-20T00:00:00+0000".
type ModelInfo struct {
	Version string
	Date    time.Time
}

// ReadEPSS reads a FIRST EPSS CSV file, plain or gzip-compressed (detected by
// its magic bytes): an optional "#model_version:...,score_date:..." line, the
// header "cve,epss,percentile", then one row per CVE. Malformed rows are
// rejected one by one with their line number.
func ReadEPSS(r io.Reader) ([]EPSSScore, ModelInfo, []Rejection, error) {
	var info ModelInfo
	br := bufio.NewReader(r)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, info, nil, fmt.Errorf("read EPSS: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
	}
	lr := &io.LimitedReader{R: br, N: MaxEPSSSize + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10)

	var scores []EPSSScore
	var rejected []Rejection
	header := false
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
		}
		if strings.HasPrefix(text, "#") {
			if !header && len(scores) == 0 {
				info = parseModelLine(text)
			}
			continue
		}
		if !header {
			if strings.ReplaceAll(strings.ToLower(text), " ", "") != "cve,epss,percentile" {
				return nil, info, nil, fmt.Errorf("read EPSS: line %d: header is %q, want \"cve,epss,percentile\"", line, truncate(text))
			}
			header = true
			continue
		}
		if text == "" {
			continue
		}
		s, err := parseEPSSRow(text)
		if err != nil {
			rejected = append(rejected, Rejection{fmt.Sprintf("line %d", line), err.Error()})
			continue
		}
		scores = append(scores, s)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, info, nil, fmt.Errorf("read EPSS: line %d longer than 64 KiB", line+1)
		}
		return nil, info, nil, fmt.Errorf("read EPSS: %w", err)
	}
	if lr.N <= 0 {
		return nil, info, nil, fmt.Errorf("read EPSS: larger than %d bytes", int64(MaxEPSSSize))
	}
	if !header {
		return nil, info, nil, errors.New("read EPSS: no \"cve,epss,percentile\" header")
	}
	return scores, info, rejected, nil
}

func parseEPSSRow(text string) (EPSSScore, error) {
	f := strings.Split(text, ",")
	if len(f) != 3 {
		return EPSSScore{}, fmt.Errorf("%d fields, want 3", len(f))
	}
	s := EPSSScore{CVE: strings.TrimSpace(f[0])}
	if !strictCVE.MatchString(s.CVE) {
		return EPSSScore{}, fmt.Errorf("%q is not a CVE ID", truncate(s.CVE))
	}
	var err error
	if s.Score, err = parseProbability(f[1]); err != nil {
		return EPSSScore{}, fmt.Errorf("%s: epss: %w", s.CVE, err)
	}
	if s.Percentile, err = parseProbability(f[2]); err != nil {
		return EPSSScore{}, fmt.Errorf("%s: percentile: %w", s.CVE, err)
	}
	return s, nil
}

func parseProbability(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(v >= 0 && v <= 1) { // also refuses NaN
		return 0, fmt.Errorf("%q is not a number between 0 and 1", truncate(s))
	}
	return v, nil
}

// parseModelLine reads "#model_version:v2023.03.01,score_date:2023-03-20T00:00:00+0000";
// fields it cannot read are left empty.
func parseModelLine(text string) ModelInfo {
	var info ModelInfo
	for _, kv := range strings.Split(strings.TrimPrefix(text, "#"), ",") {
		k, v, _ := strings.Cut(kv, ":")
		switch strings.TrimSpace(k) {
		case "model_version":
			info.Version = strings.TrimSpace(v)
		case "score_date":
			v = strings.TrimSpace(v)
			for _, layout := range []string{"2006-01-02T15:04:05-0700", time.RFC3339, time.DateOnly} {
				if t, err := time.Parse(layout, v); err == nil {
					info.Date = t.UTC()
					break
				}
			}
		}
	}
	return info
}
