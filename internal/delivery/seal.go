package delivery

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// Sealer encrypts channel configurations (URLs and signing secrets) for
// storage with AES-256-GCM. The channel's name is the additional data, so
// a sealed value moved to another channel does not open.
type Sealer struct{ aead cipher.AEAD }

// NewSealer derives the sealing key from a server secret (the job key's
// seed, which every replica holds) with HKDF-SHA256, so replicas open
// what any of them sealed and no new key file needs guarding.
func NewSealer(secret []byte) (*Sealer, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, "patchbay notify channel secrets v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plain for channel name: base64(nonce ‖ ciphertext).
func (s *Sealer) Seal(name string, plain []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	out := s.aead.Seal(nonce, nonce, plain, []byte(name))
	return []byte(base64.StdEncoding.EncodeToString(out))
}

// Open decrypts what Seal returned for the same name.
func (s *Sealer) Open(name string, sealed []byte) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(string(sealed))
	if err != nil {
		return nil, fmt.Errorf("channel %s: sealed configuration: %w", name, err)
	}
	if len(raw) < s.aead.NonceSize() {
		return nil, errors.New("channel " + name + ": sealed configuration too short")
	}
	plain, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], []byte(name))
	if err != nil {
		return nil, fmt.Errorf("channel %s: sealed configuration does not open with this server's key (another data directory's job.key?)", name)
	}
	return plain, nil
}
