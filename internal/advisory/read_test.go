package advisory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// A re-import hands ReadOSVWith the sums of the records stored last time:
// those records are counted unchanged and not parsed, a second copy of one
// still counts as a duplicate, and a malformed record is still rejected
// while the changed one is read.
func TestReadOSVSkipsStoredRecords(t *testing.T) {
	usn := readString(t, "testdata/osv/ubuntu/USN-7768-1.json")
	cve := readString(t, "testdata/osv/ubuntu/UBUNTU-CVE-2016-2781.json")
	p := writeZip(t, map[string]string{
		"a/USN-7768-1.json":           usn,
		"b/USN-7768-1.json":           usn, // the same record in a second folder
		"a/UBUNTU-CVE-2016-2781.json": cve,
		"a/bad.json":                  `{"id": `,
	})
	sum := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return hex.EncodeToString(h[:])
	}
	first, err := ReadOSVWith(context.Background(), p, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Advisories) != 2 || first.Duplicates != 1 || len(first.Rejected) != 1 || first.Unchanged != 0 {
		t.Fatalf("first read: %d advisories, %d duplicates, %d rejected, %d unchanged; want 2, 1, 1, 0",
			len(first.Advisories), first.Duplicates, len(first.Rejected), first.Unchanged)
	}
	if first.RawSums["USN-7768-1"] != sum(usn) || first.RawSums["UBUNTU-CVE-2016-2781"] != sum(cve) {
		t.Fatalf("raw sums %v, want the SHA-256 of each record's bytes", first.RawSums)
	}
	again, err := ReadOSVWith(context.Background(), p, ReadOptions{Stored: map[string]bool{sum(usn): true}})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Advisories) != 1 || again.Advisories[0].ID != "UBUNTU-CVE-2016-2781" || again.Unchanged != 1 || again.Duplicates != 1 ||
		len(again.Rejected) != 1 || again.Rejected[0].Record != "a/bad.json" {
		t.Fatalf("re-read: %d advisories, %d unchanged, %d duplicates, rejected %v; want UBUNTU-CVE-2016-2781 only, 1, 1, a/bad.json",
			len(again.Advisories), again.Unchanged, again.Duplicates, again.Rejected)
	}
}
