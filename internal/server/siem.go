package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/patchbay/patchbay/internal/audit"
	"github.com/patchbay/patchbay/internal/delivery"
	"github.com/patchbay/patchbay/internal/store"
)

// The SIEM stream (--siem-syslog tls://HOST:PORT) sends the audit trail as
// RFC 5424 messages over TLS with octet-counting framing (RFC 5425, RFC
// 6587: "LEN SP MSG"). One replica streams at a time (a lease in the
// store); it sends the entries after the durable cursor in batches, and
// moves the cursor past a batch only after the batch was written and
// flushed. Syslog over TLS has no acknowledgement, so entries a receiver
// had not read when its connection broke would be lost: on a broken
// connection the stream resends the entries it flushed on that connection
// in the last siemReplay (duplicates at the reconnect boundary, which the
// receiver recognises by the seq parameter of patchbay@32473).
const (
	siemBatch     = 200
	siemLeaseTTL  = 30 * time.Second
	siemIdle      = time.Second     // poll for new entries
	siemRetry     = 2 * time.Second // between connection attempts
	siemReplay    = 30 * time.Second
	siemWriteWait = 10 * time.Second
)

// checkSIEM validates --siem-syslog: tls://HOST:PORT, allowed by the
// outbound policy when HOST is an address.
func checkSIEM(raw string, g delivery.Guard) (host string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "tls" || u.Hostname() == "" || u.Port() == "" || u.Path != "" || u.User != nil {
		return "", fmt.Errorf("--siem-syslog %q: want tls://HOST:PORT", raw)
	}
	if _, err := g.CheckURL("https://" + u.Host + "/"); err != nil {
		return "", fmt.Errorf("--siem-syslog: %w (an internal receiver needs --notify-allow with its address)", err)
	}
	return u.Host, nil
}

// siemLoop streams the audit trail while ctx lasts.
func (s *Server) siemLoop(ctx context.Context) {
	var b [8]byte
	rand.Read(b[:])
	holder := hex.EncodeToString(b[:])
	hostname, _ := os.Hostname()
	var replayFrom uint64 // after a broken connection: resend from here
	for ctx.Err() == nil {
		ok, err := s.store.TakeSIEMLease(ctx, holder, s.now(), siemLeaseTTL)
		if err != nil || !ok {
			if err != nil && ctx.Err() == nil {
				s.log.Warn("siem lease", "err", err)
			}
			sleepCtx(ctx, siemRetry)
			continue
		}
		replayFrom, err = s.siemConnection(ctx, holder, hostname, replayFrom)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("siem stream", "err", err)
			sleepCtx(ctx, siemRetry)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// siemConnection streams over one connection until it breaks, the lease
// is lost or ctx ends. It returns the seq to resend from on the next
// connection (0: from the cursor).
func (s *Server) siemConnection(ctx context.Context, holder, hostname string, replayFrom uint64) (uint64, error) {
	addr, err := checkSIEM(s.cfg.SIEMSyslog, delivery.Guard{Allow: s.cfg.NotifyAllow})
	if err != nil {
		return replayFrom, err
	}
	host, _, _ := net.SplitHostPort(addr)
	d := delivery.Guard{Allow: s.cfg.NotifyAllow}.Dialer()
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return replayFrom, err
	}
	conn := tls.Client(raw, &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, RootCAs: s.cfg.SIEMRoots})
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(siemWriteWait))
	if err := conn.HandshakeContext(ctx); err != nil {
		return replayFrom, err
	}
	// A receiver sends nothing; a read that returns means it closed.
	closed := make(chan struct{})
	go func() {
		conn.SetReadDeadline(time.Time{})
		var b [1]byte
		conn.Read(b[:])
		close(closed)
	}()
	w := bufio.NewWriter(conn)
	type flush struct {
		first uint64
		at    time.Time
	}
	var flushes []flush // on this connection, for the replay
	broken := func() uint64 {
		cut := time.Now().Add(-siemReplay)
		for _, f := range flushes {
			if f.at.After(cut) {
				return f.first
			}
		}
		return 0
	}
	next := replayFrom
	for {
		select {
		case <-ctx.Done():
			return 0, nil
		case <-closed:
			return broken(), errors.New("the receiver closed the connection")
		default:
		}
		if ok, err := s.store.TakeSIEMLease(ctx, holder, s.now(), siemLeaseTTL); err != nil || !ok {
			return 0, err
		}
		cursor, err := s.store.SIEMCursor(ctx)
		if err != nil {
			return 0, err
		}
		from := cursor + 1
		if next != 0 && next < from {
			from = next
		}
		var recs []store.AuditRecord
		stop := errors.New("batch full")
		err = s.store.AuditRange(ctx, from, 0, func(r store.AuditRecord) error {
			recs = append(recs, r)
			if len(recs) == siemBatch {
				return stop
			}
			return nil
		})
		if err != nil && !errors.Is(err, stop) {
			return 0, err
		}
		if len(recs) == 0 {
			next = 0
			sleepCtx(ctx, siemIdle)
			continue
		}
		conn.SetWriteDeadline(time.Now().Add(siemWriteWait))
		for _, r := range recs {
			var e audit.Entry
			if err := json.Unmarshal(r.Entry, &e); err != nil {
				return 0, fmt.Errorf("audit entry %d: %w", r.Seq, err)
			}
			e.Seq = r.Seq
			msg := audit.Syslog(e, hostname, "patchbay")
			w.WriteString(strconv.Itoa(len(msg)))
			w.WriteByte(' ')
			w.WriteString(msg)
		}
		if err := w.Flush(); err != nil {
			return broken(), err
		}
		flushes = append(flushes, flush{first: recs[0].Seq, at: time.Now()})
		last := recs[len(recs)-1].Seq
		next = 0
		if last > cursor {
			if err := s.store.AdvanceSIEMCursor(ctx, cursor, last, s.now()); err != nil {
				return 0, err
			}
		}
	}
}
