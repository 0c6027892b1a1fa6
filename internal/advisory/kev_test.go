package advisory

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readKEV(t *testing.T) (fromJSON, fromCSV []KEVEntry) {
	t.Helper()
	j, err := os.Open("testdata/kev/known_exploited_vulnerabilities.json")
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	fromJSON, rej, err := ReadKEVJSON(j)
	if err != nil || len(rej) != 0 {
		t.Fatalf("ReadKEVJSON: %v, rejected %v", err, rej)
	}
	c, err := os.Open("testdata/kev/known_exploited_vulnerabilities.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fromCSV, rej, err = ReadKEVCSV(c)
	if err != nil || len(rej) != 0 {
		t.Fatalf("ReadKEVCSV: %v, rejected %v", err, rej)
	}
	return fromJSON, fromCSV
}

func TestReadKEV(t *testing.T) {
	fromJSON, fromCSV := readKEV(t)
	// The catalog says "count": 1404.
	if len(fromJSON) != 1404 || len(fromCSV) != 1404 {
		t.Fatalf("%d JSON and %d CSV entries, want 1404", len(fromJSON), len(fromCSV))
	}
	first := fromJSON[0]
	want := KEVEntry{
		CVE: "CVE-2025-48384", Vendor: "Git", Product: "Git", Name: "Git Link Following Vulnerability",
		DateAdded: time.Date(2025, 8, 25, 0, 0, 0, 0, time.UTC), DueDate: time.Date(2025, 9, 15, 0, 0, 0, 0, time.UTC),
		CWEs: []string{"CWE-59", "CWE-436"},
	}
	if first.CVE != want.CVE || first.Vendor != want.Vendor || first.Name != want.Name ||
		!first.DateAdded.Equal(want.DateAdded) || !first.DueDate.Equal(want.DueDate) ||
		!reflect.DeepEqual(first.CWEs, want.CWEs) || first.Ransomware {
		t.Errorf("first entry = %+v", first)
	}
	known := 0
	for _, e := range fromJSON {
		if e.Ransomware {
			known++
		}
	}
	if known == 0 {
		t.Error("no entry with known ransomware use")
	}
}

func TestKEVJSONAndCSVAgreeEntryByEntry(t *testing.T) {
	fromJSON, fromCSV := readKEV(t)
	for i := range min(len(fromJSON), len(fromCSV)) {
		if !reflect.DeepEqual(fromJSON[i], fromCSV[i]) {
			t.Errorf("entry %d differs:\nJSON %+v\nCSV  %+v", i, fromJSON[i], fromCSV[i])
		}
	}
}

func TestReadKEVRejectsBadEntries(t *testing.T) {
	doc := `{"vulnerabilities": [
		{"cveID": "CVE-2024-0001", "dateAdded": "2024-01-02", "dueDate": "2024-01-23", "knownRansomwareCampaignUse": "Known"},
		{"cveID": "not-a-cve", "dateAdded": "2024-01-02", "dueDate": "2024-01-23"},
		{"cveID": "CVE-2024-0002", "dateAdded": "yesterday", "dueDate": "2024-01-23"},
		{"cveID": 7}
	]}`
	entries, rej, err := ReadKEVJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || !entries[0].Ransomware || len(rej) != 3 {
		t.Errorf("entries %+v, rejected %v; want 1 entry, 3 rejections", entries, rej)
	}
	if _, _, err := ReadKEVJSON(strings.NewReader(`{"title": "not KEV"}`)); err == nil {
		t.Error("a document without vulnerabilities was accepted")
	}

	csvDoc := "cveID,vendorProject,product,vulnerabilityName,dateAdded,shortDescription,requiredAction,dueDate,knownRansomwareCampaignUse,notes,cwes\n" +
		"CVE-2024-0001,V,P,N,2024-01-02,D,A,2024-01-23,Unknown,,\n" +
		"CVE-2024-0002,V,P,N,2024-01-02\n" +
		"CVE-2024-0003,V,P,N,2024-13-02,D,A,2024-01-23,Unknown,,\n"
	entries, rej, err = ReadKEVCSV(strings.NewReader(csvDoc))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || len(rej) != 2 || rej[0].Record != "CVE-2024-0002" {
		t.Errorf("entries %+v, rejected %v; want 1 entry, 2 rejections", entries, rej)
	}
	if _, _, err := ReadKEVCSV(strings.NewReader("a,b,c\n1,2,3\n")); err == nil {
		t.Error("a CSV without the KEV header was accepted")
	}
}

func FuzzReadKEVCSV(f *testing.F) {
	b, err := os.ReadFile("testdata/kev/known_exploited_vulnerabilities.csv")
	if err != nil {
		f.Fatal(err)
	}
	lines := strings.SplitAfterN(string(b), "\n", 4)
	f.Add([]byte(strings.Join(lines[:3], "")))
	f.Add([]byte("cveID,vendorProject,product,vulnerabilityName,dateAdded,shortDescription,requiredAction,dueDate,knownRansomwareCampaignUse,notes\n\"CVE-2024-0001\",a,b,c,2024-01-01,d,e,2024-01-02,Known,\"x\"\"y\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, _, err := ReadKEVCSV(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		for _, e := range entries {
			if !strictCVE.MatchString(e.CVE) || e.DateAdded.IsZero() || e.DueDate.IsZero() {
				t.Fatalf("accepted an invalid entry %+v", e)
			}
		}
	})
}

func FuzzReadKEVJSON(f *testing.F) {
	f.Add([]byte(`{"catalogVersion":"2025.08.25","count":1,"vulnerabilities":[{"cveID":"CVE-2024-0001","vendorProject":"a","product":"b","vulnerabilityName":"c","dateAdded":"2024-01-01","shortDescription":"d","requiredAction":"e","dueDate":"2024-01-22","knownRansomwareCampaignUse":"Known","notes":"","cwes":["CWE-79"]}]}`))
	f.Add([]byte(`{"vulnerabilities":[{"cveID":"CVE-1-1"}, null, 5]}`))
	f.Add([]byte(`{"vulnerabilities":`))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, _, err := ReadKEVJSON(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		for _, e := range entries {
			if !strictCVE.MatchString(e.CVE) || e.DateAdded.IsZero() || e.DueDate.IsZero() {
				t.Fatalf("accepted an invalid entry %+v", e)
			}
		}
	})
}
