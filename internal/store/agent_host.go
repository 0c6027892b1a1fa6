package store

import (
	"context"
	"database/sql"
	"errors"
)

// AgentHost returns what an agent request needs of its host: ID,
// hostname, revocation, certificate serials and expiry, and inventory
// revision. Facts, labels, problems and HostnameShared are left zero: each
// check-in authenticates with it, and decoding the host's JSON columns
// for every request was a cost that grew with the fleet.
func (s *DB) AgentHost(ctx context.Context, id string) (Host, error) {
	var h Host
	var revoked sql.NullInt64
	var notAfter int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, hostname, revoked_at, cert_serial, prev_cert_serial, cert_not_after, revision
		FROM hosts WHERE id = ?`), id).Scan(&h.ID, &h.Hostname, &revoked, &h.CertSerial, &h.PrevCertSerial, &notAfter, &h.Revision)
	if errors.Is(err, sql.ErrNoRows) {
		return Host{}, ErrNotFound
	}
	if err != nil {
		return Host{}, err
	}
	h.RevokedAt, h.CertNotAfter = fromMSPtr(revoked), fromMS(notAfter)
	return h, nil
}
