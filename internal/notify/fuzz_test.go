package notify

import (
	"testing"
	"time"
)

// FuzzVerify: any header and body are judged without a panic, and a
// header Sign made verifies for its body within the window.
func FuzzVerify(f *testing.F) {
	f.Add("t=1780000000,v1=f30d3c39148cbf0627731c26cbc8d6ea0bad8ddf90a8d0bf5fb7b47ac1d3d789", []byte(`{"schema":"patchbay.notification/v1"}`))
	f.Add("t=,v1=", []byte{})
	f.Add("v1=zz,t=-9223372036854775808", []byte("x"))
	f.Add("t=99999999999999999999,v1=00", []byte("x"))
	at := time.Unix(1780000000, 0)
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		_ = Verify([]byte("whsec_test"), header, body, at, 5*time.Minute)
		if err := Verify([]byte("k"), Sign([]byte("k"), at, body), body, at.Add(time.Minute), 5*time.Minute); err != nil {
			t.Fatalf("own signature refused: %v", err)
		}
	})
}

// FuzzParseAfter: any text is read without a panic, never as a negative
// delay, and whole days are read as that many 24-hour days.
func FuzzParseAfter(f *testing.F) {
	for _, s := range []string{"0d", "3d", "12h", "90m", "-1d", "d", "1.5d", "9999999999d", "1h30m", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseAfter(s)
		if err == nil && d < 0 {
			t.Fatalf("ParseAfter(%q) = %v", s, d)
		}
	})
}
