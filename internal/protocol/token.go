package protocol

import (
	"encoding/hex"
	"errors"
	"strings"
)

// An enrollment token is "PBE1.<secret>.<ca-fingerprint>": the secret the
// server keeps a hash of, and the SHA-256 fingerprint of the server's CA so
// that a new agent can trust the server on first contact without a CA file.

const enrollTokenPrefix = "PBE1."

// FormatEnrollToken joins a secret and a CA fingerprint into a token.
func FormatEnrollToken(secret, caFingerprint string) string {
	return enrollTokenPrefix + secret + "." + caFingerprint
}

// ParseEnrollToken splits a token into its secret and CA fingerprint.
func ParseEnrollToken(token string) (secret, caFingerprint string, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(token), enrollTokenPrefix)
	if !ok {
		return "", "", errors.New("not a Patchbay enrollment token (it starts with PBE1.); create one with `patchbay enroll-token create`")
	}
	secret, fp, ok := strings.Cut(rest, ".")
	if !ok || secret == "" || len(secret) > 128 {
		return "", "", errors.New("malformed enrollment token; copy it whole")
	}
	if b, err := hex.DecodeString(fp); err != nil || len(b) != 32 {
		return "", "", errors.New("malformed enrollment token: bad CA fingerprint; copy it whole")
	}
	return secret, strings.ToLower(fp), nil
}
