package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Guard decides which addresses outbound notifications may reach. By
// default only public unicast addresses; Allow lists the prefixes an
// admin opened (an internal chat server, a test receiver on loopback).
type Guard struct {
	Allow []netip.Prefix
}

// RefusedError says why an outbound request was refused before any
// connection was made.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "refused by the outbound policy: " + e.Reason }

// blocked are the special-purpose ranges (IANA registries) a notification
// has no business reaching, with what they are.
var blocked = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\""},
	{netip.MustParsePrefix("10.0.0.0/8"), "private (RFC 1918)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (RFC 6598)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.169.254/32"), "the cloud metadata service"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private (RFC 1918)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private (RFC 1918)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64"},
	{netip.MustParsePrefix("fc00::/7"), "unique local"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	{netip.MustParsePrefix("2002::/16"), "6to4"},
}

// CheckAddr refuses addr unless it is allowed: a public unicast address,
// or one in Allow. An IPv4-mapped IPv6 address is judged as the IPv4
// address it carries.
func (g Guard) CheckAddr(addr netip.Addr) error {
	addr = addr.Unmap().WithZone("")
	for _, p := range g.Allow {
		if p.Contains(addr) {
			return nil
		}
	}
	for _, b := range blocked {
		if b.prefix.Contains(addr) {
			return &RefusedError{fmt.Sprintf("%s is %s", addr, b.what)}
		}
	}
	if !addr.IsGlobalUnicast() {
		return &RefusedError{fmt.Sprintf("%s is not a public unicast address", addr)}
	}
	return nil
}

// CheckURL refuses a URL that is not http(s), carries credentials, or
// names its host as an internal address or as an IP address written in a
// form other than the usual one (decimal 2130706433, octal 0177.0.0.1,
// hex 0x7f.1, short 127.1): resolvers disagree on those. Names are
// resolved and checked on the connecting socket (Control).
func (g Guard) CheckURL(raw string) (*url.URL, error) {
	return g.checkURL(raw, "http", "https")
}

// CheckMailURL is CheckURL for an SMTP server: smtp://HOST:PORT (STARTTLS)
// or smtps://HOST:PORT (implicit TLS).
func (g Guard) CheckMailURL(raw string) (*url.URL, error) {
	return g.checkURL(raw, "smtp", "smtps")
}

func (g Guard) checkURL(raw string, schemes ...string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, &RefusedError{"not a URL"}
	}
	if !slices.Contains(schemes, u.Scheme) {
		return nil, &RefusedError{fmt.Sprintf("scheme %q: only %s", u.Scheme, strings.Join(schemes, " and "))}
	}
	if u.User != nil {
		return nil, &RefusedError{"credentials in the URL"}
	}
	host := u.Hostname()
	if host == "" {
		return nil, &RefusedError{"no host"}
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		return u, g.CheckAddr(addr)
	}
	if addr, ok := looseIPv4(host); ok {
		return nil, &RefusedError{fmt.Sprintf("host %q is IP address %s written in an unusual form", host, addr)}
	}
	return u, nil
}

// looseIPv4 parses the forms inet_aton accepts (1 to 4 parts, each
// decimal, octal with a leading 0 or hex with 0x).
func looseIPv4(host string) (netip.Addr, bool) {
	parts := strings.Split(strings.TrimSuffix(host, "."), ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 0, 32) // base 0: 0x hex, 0 octal, else decimal
		if err != nil || p == "" {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	last := len(vals) - 1
	for i, v := range vals[:last] {
		if v > 255 {
			return netip.Addr{}, false
		}
		n |= v << (8 * (3 - i))
	}
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// control checks the address a socket is about to connect to: after DNS,
// on every connection (a name that resolved to a public address once and
// to loopback later is caught).
func (g Guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{fmt.Sprintf("address %q", address)}
	}
	return g.CheckAddr(ap.Addr())
}

// Dialer returns a dialer that connects only where g allows, checking the
// address on the connecting socket, after DNS.
func (g Guard) Dialer() *net.Dialer {
	return &net.Dialer{Timeout: 10 * time.Second, Control: g.control}
}

// ErrRedirect is a delivery answered with a redirect: not followed.
var ErrRedirect = errors.New("redirect not followed")

// Client returns an HTTP client that connects only where g allows, uses no
// proxy, follows no redirect and gives up after timeout. roots, when not
// nil, replaces the system's CA certificates (tests).
func (g Guard) Client(timeout time.Duration, roots *x509.CertPool) *http.Client {
	d := g.Dialer()
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return ErrRedirect }}
}
