package server

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/audit"
	"github.com/patchbay/patchbay/internal/store"
)

func siemTestCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "siem.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	c, _ := x509.ParseCertificate(der)
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// readFrame reads one octet-counted syslog frame (RFC 6587 3.4.1:
// MSG-LEN SP SYSLOG-MSG).
func readFrame(r *bufio.Reader) (string, error) {
	n, err := r.ReadString(' ')
	if err != nil {
		return "", err
	}
	size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
	if err != nil || size <= 0 || size > 64<<10 {
		return "", fmt.Errorf("bad frame length %q", n)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return string(b), nil
}

// receiver accepts TLS connections on ln and sends every frame to out;
// after limit frames (0: none) it closes the connection and the listener,
// as a receiver that is killed.
func receiver(t *testing.T, ln net.Listener, cert tls.Certificate, limit int, out chan<- string) {
	tl := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	go func() {
		n := 0
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(c)
			for {
				m, err := readFrame(r)
				if err != nil {
					break
				}
				out <- m
				n++
				if limit > 0 && n == limit {
					c.Close()
					ln.Close()
					return
				}
			}
			c.Close()
		}
	}()
}

var (
	siemSeq    = regexp.MustCompile(`\[patchbay@32473 seq="(\d+)"`)
	siemAction = regexp.MustCompile(` action="([^"]*)"`)
)

func TestSIEMStreamSurvivesAReceiverRestart(t *testing.T) {
	cert, pool := siemTestCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	frames := make(chan string, 1000)
	receiver(t, ln, cert, 40, frames) // killed after 40 frames

	ts := newTestServerAt(t, time.Now, func(c *Config) {
		c.SIEMSyslog = "tls://" + addr
		c.SIEMRoots = pool
		c.NotifyAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	ctx := context.Background()
	for i := 1; i <= 150; i++ {
		if _, err := ts.db.AppendAudit(ctx, audit.Entry{Time: time.Now(), Actor: "tester", Action: fmt.Sprintf("test.%d", i), Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	// The store holds these 150 and whatever the server audited itself.
	var last uint64
	ts.db.AuditRange(ctx, 0, 0, func(r store.AuditRecord) error { last = r.Seq; return nil })

	got := map[uint64]string{}
	var order []uint64
	restarted := false
	deadline := time.After(60 * time.Second)
	for uint64(len(got)) < last {
		select {
		case m := <-frames:
			if !strings.HasPrefix(m, "<109>1 ") && !strings.HasPrefix(m, "<108>1 ") {
				t.Fatalf("frame is not RFC 5424 from facility 13: %q", m)
			}
			sm := siemSeq.FindStringSubmatch(m)
			if sm == nil {
				t.Fatalf("frame without seq: %q", m)
			}
			seq, _ := strconv.ParseUint(sm[1], 10, 64)
			if a := siemAction.FindStringSubmatch(m); a != nil {
				got[seq] = a[1]
			}
			order = append(order, seq)
			if len(order) == 40 && !restarted {
				restarted = true
				ln2, err := net.Listen("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				receiver(t, ln2, cert, 0, frames)
				t.Cleanup(func() { ln2.Close() })
			}
		case <-deadline:
			t.Fatalf("after 60s: %d of %d entries arrived (order %v)", len(got), last, order)
		}
	}
	for seq := uint64(1); seq <= last; seq++ {
		if _, ok := got[seq]; !ok {
			t.Fatalf("entry %d never arrived", seq)
		}
	}
	// Our 150 entries arrived with their actions, in order: the first
	// arrival of each seq is in ascending order.
	seen := map[uint64]bool{}
	var firsts []uint64
	for _, s := range order {
		if !seen[s] {
			seen[s] = true
			firsts = append(firsts, s)
		}
	}
	for i := 1; i < len(firsts); i++ {
		if firsts[i] < firsts[i-1] {
			t.Fatalf("entry %d first arrived after %d", firsts[i], firsts[i-1])
		}
	}
	n := 0
	for _, a := range got {
		if strings.HasPrefix(a, "test.") {
			n++
		}
	}
	if n != 150 {
		t.Fatalf("%d of the 150 test entries arrived", n)
	}
	if !restarted {
		t.Fatal("the receiver was never restarted")
	}
}

// Two replicas over one database: the lease (and the cursor's compare-and-set,
// which alone rarely lets a duplicate through here) let one stream, so every
// entry arrives exactly once (no connection breaks here).
func TestSIEMStreamsFromOneReplica(t *testing.T) {
	cert, pool := siemTestCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	frames := make(chan string, 1000)
	receiver(t, ln, cert, 0, frames)
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	var replicas []*testServer
	for range 2 {
		cfg := DefaultConfig()
		cfg.DataDir = t.TempDir()
		cfg.EngineInterval = 0
		cfg.SIEMSyslog, cfg.SIEMRoots = "tls://"+ln.Addr().String(), pool
		cfg.NotifyAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		replicas = append(replicas, startTestServer(t, cfg, dbURL, time.Now))
	}
	ctx := context.Background()
	for i := 1; i <= 60; i++ {
		if _, err := replicas[i%2].db.AppendAudit(ctx, audit.Entry{Time: time.Now(), Actor: "tester", Action: fmt.Sprintf("test.%d", i), Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	var last uint64
	replicas[0].db.AuditRange(ctx, 0, 0, func(r store.AuditRecord) error { last = r.Seq; return nil })
	count := map[uint64]int{}
	deadline := time.After(60 * time.Second)
	for uint64(len(count)) < last {
		select {
		case m := <-frames:
			sm := siemSeq.FindStringSubmatch(m)
			if sm == nil {
				t.Fatalf("frame without seq: %q", m)
			}
			seq, _ := strconv.ParseUint(sm[1], 10, 64)
			count[seq]++
		case <-deadline:
			t.Fatalf("after 60s: %d of %d entries arrived", len(count), last)
		}
	}
	// Let a second streamer, if there were one, show itself.
	time.Sleep(3 * time.Second)
	for len(frames) > 0 {
		sm := siemSeq.FindStringSubmatch(<-frames)
		seq, _ := strconv.ParseUint(sm[1], 10, 64)
		count[seq]++
	}
	for seq, n := range count {
		if n != 1 {
			t.Errorf("entry %d arrived %d times", seq, n)
		}
	}
}
