package advisory

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// MaxKEVSize is the largest KEV catalog accepted, in bytes (the real one is
// about 1.5 MB).
const MaxKEVSize = 256 << 20

// KEVEntry is one entry of the CISA Known Exploited Vulnerabilities catalog.
type KEVEntry struct {
	CVE              string
	Vendor           string
	Product          string
	Name             string // vulnerabilityName
	ShortDescription string
	RequiredAction   string
	DateAdded        time.Time
	DueDate          time.Time
	Ransomware       bool // knownRansomwareCampaignUse is "Known"
	Notes            string
	CWEs             []string
}

var strictCVE = regexp.MustCompile(`^CVE-[0-9]{4}-[0-9]{4,}$`)

type kevJSONEntry struct {
	CVE              string   `json:"cveID"`
	Vendor           string   `json:"vendorProject"`
	Product          string   `json:"product"`
	Name             string   `json:"vulnerabilityName"`
	DateAdded        string   `json:"dateAdded"`
	ShortDescription string   `json:"shortDescription"`
	RequiredAction   string   `json:"requiredAction"`
	DueDate          string   `json:"dueDate"`
	Ransomware       string   `json:"knownRansomwareCampaignUse"`
	Notes            string   `json:"notes"`
	CWEs             []string `json:"cwes"`
}

// ReadKEVJSON reads the KEV catalog in its JSON form
// (known_exploited_vulnerabilities.json). Entries without a valid CVE ID or
// dates are rejected one by one; the error is for a document that is not a
// KEV catalog at all.
func ReadKEVJSON(r io.Reader) ([]KEVEntry, []Rejection, error) {
	entries, _, rejected, err := ReadKEVCatalog(r)
	return entries, rejected, err
}

// ReadKEVCatalog is ReadKEVJSON that also returns the catalog's version
// and release time ("catalogVersion", "dateReleased"), which date the
// snapshot; either is zero when the document lacks it or it does not parse.
func ReadKEVCatalog(r io.Reader) ([]KEVEntry, ModelInfo, []Rejection, error) {
	var info ModelInfo
	data, err := readLimited(r, MaxKEVSize)
	if err != nil {
		return nil, info, nil, fmt.Errorf("read KEV JSON: %w", err)
	}
	var doc struct {
		CatalogVersion  string            `json:"catalogVersion"`
		DateReleased    string            `json:"dateReleased"`
		Vulnerabilities []json.RawMessage `json:"vulnerabilities"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, info, nil, fmt.Errorf("read KEV JSON: %w", err)
	}
	if doc.Vulnerabilities == nil {
		return nil, info, nil, errors.New("read KEV JSON: no \"vulnerabilities\" list")
	}
	info.Version = truncate(doc.CatalogVersion)
	if t, err := time.Parse(time.RFC3339Nano, doc.DateReleased); err == nil {
		info.Date = t.UTC()
	}
	var entries []KEVEntry
	var rejected []Rejection
	for i, raw := range doc.Vulnerabilities {
		record := fmt.Sprintf("vulnerabilities[%d]", i)
		var j kevJSONEntry
		if err := json.Unmarshal(raw, &j); err != nil {
			rejected = append(rejected, Rejection{record, "malformed entry: " + err.Error()})
			continue
		}
		if j.CVE != "" {
			record = truncate(j.CVE)
		}
		e, err := newKEVEntry(j)
		if err != nil {
			rejected = append(rejected, Rejection{record, err.Error()})
			continue
		}
		entries = append(entries, e)
	}
	return entries, info, rejected, nil
}

var kevCSVHeader = []string{"cveID", "vendorProject", "product", "vulnerabilityName", "dateAdded",
	"shortDescription", "requiredAction", "dueDate", "knownRansomwareCampaignUse", "notes", "cwes"}

// ReadKEVCSV reads the KEV catalog in its CSV form
// (known_exploited_vulnerabilities.csv). Columns are found by their header
// names, so their order may change; "cwes" is optional.
func ReadKEVCSV(r io.Reader) ([]KEVEntry, []Rejection, error) {
	data, err := readLimited(r, MaxKEVSize)
	if err != nil {
		return nil, nil, fmt.Errorf("read KEV CSV: %w", err)
	}
	cr := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(data), "\ufeff")))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("read KEV CSV header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, h := range kevCSVHeader[:10] {
		if _, ok := col[h]; !ok {
			return nil, nil, fmt.Errorf("read KEV CSV: header has no %q column", h)
		}
	}
	var entries []KEVEntry
	var rejected []Rejection
	for {
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				// The csv reader cannot resynchronise inside a broken
				// quoted field; what follows is unreliable, so stop.
				rejected = append(rejected, Rejection{fmt.Sprintf("line %d", pe.StartLine), "malformed CSV: " + pe.Err.Error() + "; rest of file not read"})
				break
			}
			return nil, nil, fmt.Errorf("read KEV CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		record := fmt.Sprintf("line %d", line)
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(row) {
				return row[i]
			}
			return ""
		}
		j := kevJSONEntry{
			CVE: get("cveID"), Vendor: get("vendorProject"), Product: get("product"),
			Name: get("vulnerabilityName"), DateAdded: get("dateAdded"),
			ShortDescription: get("shortDescription"), RequiredAction: get("requiredAction"),
			DueDate: get("dueDate"), Ransomware: get("knownRansomwareCampaignUse"), Notes: get("notes"),
		}
		for _, c := range strings.Split(get("cwes"), ",") {
			if c = strings.TrimSpace(c); c != "" {
				j.CWEs = append(j.CWEs, c)
			}
		}
		if j.CVE != "" {
			record = truncate(j.CVE)
		}
		if len(row) != len(header) {
			rejected = append(rejected, Rejection{record, fmt.Sprintf("%d fields, header has %d", len(row), len(header))})
			continue
		}
		e, err := newKEVEntry(j)
		if err != nil {
			rejected = append(rejected, Rejection{record, err.Error()})
			continue
		}
		entries = append(entries, e)
	}
	return entries, rejected, nil
}

func newKEVEntry(j kevJSONEntry) (KEVEntry, error) {
	if !strictCVE.MatchString(j.CVE) {
		return KEVEntry{}, fmt.Errorf("cveID %q is not a CVE ID", truncate(j.CVE))
	}
	added, err := time.Parse(time.DateOnly, j.DateAdded)
	if err != nil {
		return KEVEntry{}, fmt.Errorf("dateAdded %q is not a date (YYYY-MM-DD)", truncate(j.DateAdded))
	}
	due, err := time.Parse(time.DateOnly, j.DueDate)
	if err != nil {
		return KEVEntry{}, fmt.Errorf("dueDate %q is not a date (YYYY-MM-DD)", truncate(j.DueDate))
	}
	var cwes []string
	for _, c := range j.CWEs {
		if c != "" {
			cwes = append(cwes, c)
		}
	}
	return KEVEntry{
		CVE: j.CVE, Vendor: j.Vendor, Product: j.Product, Name: j.Name,
		ShortDescription: j.ShortDescription, RequiredAction: j.RequiredAction,
		DateAdded: added, DueDate: due,
		Ransomware: strings.EqualFold(j.Ransomware, "Known"),
		Notes:      j.Notes, CWEs: cwes,
	}, nil
}

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}
