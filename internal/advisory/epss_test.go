package advisory

import (
	"bytes"
	"compress/gzip"
	"os"
	"strings"
	"testing"
	"time"
)

const epssSample = "testdata/epss/epss_scores-2026-08-16-head50.csv"

func TestReadEPSS(t *testing.T) {
	b, err := os.ReadFile(epssSample)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(b)
	zw.Close()

	for name, input := range map[string][]byte{"plain": b, "gzip": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			scores, info, rej, err := ReadEPSS(bytes.NewReader(input))
			if err != nil {
				t.Fatal(err)
			}
			// 50 lines: the header and 49 scores.
			if len(scores) != 49 || len(rej) != 0 {
				t.Fatalf("%d scores, %d rejected; want 49, 0", len(scores), len(rej))
			}
			if want := (EPSSScore{"CVE-1999-0001", 0.03351, 0.8765}); scores[0] != want {
				t.Errorf("first = %+v, want %+v", scores[0], want)
			}
			if info != (ModelInfo{}) {
				t.Errorf("model info %+v from a file without the comment line", info)
			}
		})
	}
}

func TestReadEPSSWithModelLineAndBadRows(t *testing.T) {
	in := "#model_version:v2025.03.14,score_date:2026-08-16T12:55:00Z\n" +
		"cve,epss,percentile\n" +
		"CVE-2024-0001,0.5,0.9\n" +
		"CVE-2024-0002,1.5,0.9\n" +
		"CVE-2024-0003,NaN,0.9\n" +
		"nope,0.1,0.1\n" +
		"CVE-2024-0004,0.1\n" +
		"\n" +
		"CVE-2024-0005,0.00001,0.01\r\n"
	scores, info, rej, err := ReadEPSS(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(scores) != 2 || len(rej) != 4 {
		t.Errorf("%d scores, rejected %v; want 2, 4", len(scores), rej)
	}
	if rej[0].Record != "line 4" {
		t.Errorf("first rejection %+v, want line 4", rej[0])
	}
	want := ModelInfo{Version: "v2025.03.14", Date: time.Date(2026, 8, 16, 12, 55, 0, 0, time.UTC)}
	if info != want {
		t.Errorf("info = %+v, want %+v", info, want)
	}
	if _, _, _, err := ReadEPSS(strings.NewReader("a,b\n1,2\n")); err == nil {
		t.Error("a file without the EPSS header was accepted")
	}
}

func FuzzReadEPSS(f *testing.F) {
	b, err := os.ReadFile(epssSample)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:500])
	f.Add([]byte("#model_version:v1,score_date:2026-01-01T00:00:00+0000\ncve,epss,percentile\nCVE-2020-1234,0.1,0.2\n"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(b[:300])
	zw.Close()
	f.Add(gz.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		scores, _, _, err := ReadEPSS(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, s := range scores {
			if !(s.Score >= 0 && s.Score <= 1 && s.Percentile >= 0 && s.Percentile <= 1) || !strictCVE.MatchString(s.CVE) {
				t.Fatalf("accepted %+v", s)
			}
		}
	})
}
