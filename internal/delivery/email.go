package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	mail "github.com/wneessen/go-mail"

	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/store"
)

// permanentError is a delivery that another attempt cannot fix (the
// recipient has no address): dead at once, retried by hand once fixed.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

// mail sends m to its recipient's address over the channel's SMTP server.
// The connection is always encrypted: smtp:// requires STARTTLS (a server
// that does not offer it is refused rather than sent plain text), smtps://
// is TLS from the first byte. The address is checked by the guard on the
// connecting socket, like every other channel's.
func (w *Worker) mail(ctx context.Context, ch channel, m store.OutboxMessage, ev notify.Event, d notify.Delivery) error {
	u, err := w.Guard.CheckMailURL(ch.cfg.URL)
	if err != nil {
		return err
	}
	user, err := w.Outbox.GetUserByName(ctx, m.Recipient)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &permanentError{fmt.Sprintf("no user %q to e-mail", m.Recipient)}
	case err != nil:
		return err
	case user.Email == "":
		return &permanentError{fmt.Sprintf("user %s has no e-mail address: set one with `patchbay users email %s ADDRESS`, then retry this message", user.Username, user.Username)}
	case user.DisabledAt != nil:
		return &permanentError{fmt.Sprintf("user %s is disabled", user.Username)}
	}
	e, err := notify.EmailBody(ev, d, w.ConsoleURL, w.Now())
	if err != nil {
		return err
	}
	msg := mail.NewMsg()
	if err := msg.From(ch.cfg.From); err != nil {
		return &permanentError{"sender address: " + err.Error()}
	}
	if err := msg.To(user.Email); err != nil {
		return &permanentError{fmt.Sprintf("user %s's address: %v", user.Username, err)}
	}
	msg.Subject(e.Subject)
	msg.SetDateWithValue(w.Now())
	// The same Message-ID on every attempt: the idempotency key, so a
	// receiver (or a mail filter) can drop a duplicate.
	domain := "patchbay"
	if _, dom, ok := strings.Cut(ch.cfg.From, "@"); ok {
		domain = strings.TrimSuffix(dom, ">")
	}
	msg.SetMessageIDWithValue(m.Key + "@" + domain)
	msg.SetGenHeader("X-Patchbay-Event", string(ev.Kind))
	msg.SetGenHeader("X-Patchbay-Idempotency-Key", m.Key)
	msg.SetBodyString(mail.TypeTextPlain, e.Text)
	msg.AddAlternativeString(mail.TypeTextHTML, e.HTML)
	if e.Calendar != nil {
		if err := msg.AttachReader(notify.CalendarName, bytes.NewReader(e.Calendar),
			mail.WithFileContentType("text/calendar; method=PUBLISH; charset=UTF-8")); err != nil {
			return err
		}
	}
	client, err := w.smtpClient(u.Scheme, u.Hostname(), u.Port(), ch.cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, w.Client.Timeout)
	defer cancel()
	return client.DialAndSendWithContext(ctx, msg)
}

func (w *Worker) smtpClient(scheme, host, port string, cfg ChannelConfig) (*mail.Client, error) {
	tlsConf := &tls.Config{ServerName: host, RootCAs: w.Roots, MinVersion: tls.VersionTLS12}
	p := 587
	if scheme == "smtps" {
		p = 465
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return nil, &permanentError{fmt.Sprintf("SMTP port %q", port)}
		}
		p = n
	}
	dialer := w.Guard.Dialer()
	dial := dialer.DialContext
	if scheme == "smtps" {
		// go-mail wraps a connection in TLS only when it dials itself.
		td := &tls.Dialer{NetDialer: dialer, Config: tlsConf}
		dial = td.DialContext
	}
	opts := []mail.Option{mail.WithPort(p), mail.WithTimeout(w.Client.Timeout), mail.WithTLSConfig(tlsConf),
		mail.WithDialContextFunc(func(ctx context.Context, network, addr string) (net.Conn, error) { return dial(ctx, network, addr) })}
	if scheme == "smtps" {
		opts = append(opts, mail.WithSSL())
	} else {
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if cfg.Username != "" {
		// The strongest mechanism the server offers. Named rather than
		// auto-discovered: go-mail's discovery leaves PLAIN and LOGIN out
		// when it did not dial TLS itself (smtps through the guard's
		// dialer), though the connection is TLS; its PLAIN and LOGIN still
		// refuse a connection that is not.
		opts = append(opts, mail.WithOpportunisticSMTPAuth(mail.SMTPAuthSCRAMSHA256PLUS, mail.SMTPAuthSCRAMSHA256, mail.SMTPAuthSCRAMSHA1PLUS,
			mail.SMTPAuthSCRAMSHA1, mail.SMTPAuthCramMD5, mail.SMTPAuthPlain, mail.SMTPAuthLogin),
			mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	return mail.NewClient(host, opts...)
}
