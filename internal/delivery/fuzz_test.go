package delivery

import (
	"net/netip"
	"testing"
)

// FuzzCheckURL: any URL is judged without a panic, and a URL accepted with
// an IP literal host names an address CheckAddr accepts too; a host that
// inet_aton would read as a loopback address is never accepted.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8080/", "http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1/",
		"http://[::ffff:127.0.0.1]/", "https://hooks.example.com/services/T/B/X", "http://1.2.3.4.5/", "http://0x/", "http://./"} {
		f.Add(s)
	}
	g := Guard{}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := g.CheckURL(raw)
		if err != nil {
			return
		}
		host := u.Hostname()
		if a, perr := netip.ParseAddr(host); perr == nil && g.CheckAddr(a) != nil {
			t.Fatalf("%q accepted with internal address %s", raw, a)
		}
		if a, ok := looseIPv4(host); ok && a.IsLoopback() {
			t.Fatalf("%q accepted though it reads as %s", raw, a)
		}
	})
}
