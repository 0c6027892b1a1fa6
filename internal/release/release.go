package release

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/semver"
	"golang.org/x/mod/sumdb/note"
)

// header is the first line of every release note.
const header = "patchbay-agent release"

// Release describes one signed agent binary.
type Release struct {
	Version        string // semantic version with a leading v: v1.4.0
	OS, Arch       string // GOOS and GOARCH it runs on
	SHA256         string // hex
	Size           int64
	AllowDowngrade bool // may replace a newer version (a deliberate rollback)
}

// Refusal errors: Verify wraps one of these, so callers can tell them apart.
var (
	ErrUnknownKey   = errors.New("release is not signed by the pinned release key")
	ErrBadSignature = errors.New("release signature does not verify")
	ErrMalformed    = errors.New("release metadata is malformed")
	ErrWrongTarget  = errors.New("release is for another OS or architecture")
	ErrDowngrade    = errors.New("release is not newer than the running version and does not allow a downgrade")
	ErrHash         = errors.New("binary does not match the signed size and SHA-256")
)

// GenerateKey makes a release key pair named name: the signer key (keep it
// offline) and the verifier key agents pin. Both are single-line strings.
func GenerateKey(name string) (signerKey, verifierKey string, err error) {
	return note.GenerateKey(rand.Reader, name)
}

// New describes binary as release version for os/arch.
func New(binary []byte, version, goos, goarch string, allowDowngrade bool) (Release, error) {
	if !semver.IsValid(version) {
		return Release{}, fmt.Errorf("version %q: use a semantic version with a leading v, such as v1.4.0", version)
	}
	sum := sha256.Sum256(binary)
	r := Release{Version: version, OS: goos, Arch: goarch, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(binary)), AllowDowngrade: allowDowngrade}
	if r.OS == "" || r.Arch == "" || strings.ContainsAny(r.OS+r.Arch, " \n") {
		return Release{}, fmt.Errorf("os %q, arch %q: give GOOS and GOARCH names", goos, goarch)
	}
	return r, nil
}

// text is the note's signed text.
func (r Release) text() string {
	return fmt.Sprintf("%s\nversion %s\nos %s\narch %s\nsize %d\nsha256 %s\nallow-downgrade %t\n",
		header, r.Version, r.OS, r.Arch, r.Size, r.SHA256, r.AllowDowngrade)
}

// Sign signs r with the signer key and returns the release file.
func Sign(r Release, signerKey string) ([]byte, error) {
	s, err := note.NewSigner(signerKey)
	if err != nil {
		return nil, fmt.Errorf("release key: %w", err)
	}
	return note.Sign(&note.Note{Text: r.text()}, s)
}

// Verify checks a release file against the pinned verifier key, the
// running agent's version, OS and architecture, and the binary it
// describes. It returns the release only when every check passes.
func Verify(file []byte, verifierKey string, binary []byte, running, goos, goarch string) (Release, error) {
	r, err := Check(file, verifierKey, running, goos, goarch)
	if err != nil {
		return Release{}, err
	}
	sum := sha256.Sum256(binary)
	if int64(len(binary)) != r.Size || hex.EncodeToString(sum[:]) != r.SHA256 {
		return Release{}, fmt.Errorf("%w: got %d bytes with SHA-256 %x", ErrHash, len(binary), sum)
	}
	return r, nil
}

// Check is Verify without the binary: the signature against the pinned
// key, the target and the version. An agent checks a release this way
// before it fetches the binary the release describes.
func Check(file []byte, verifierKey string, running, goos, goarch string) (Release, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return Release{}, fmt.Errorf("pinned release key: %w", err)
	}
	n, err := note.Open(file, note.VerifierList(v))
	if err != nil {
		var unknown *note.UnknownVerifierError
		var invalid *note.InvalidSignatureError
		var unverified *note.UnverifiedNoteError
		switch {
		case errors.As(err, &unknown), errors.As(err, &unverified):
			return Release{}, fmt.Errorf("%w: %v", ErrUnknownKey, err)
		case errors.As(err, &invalid):
			return Release{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
		}
		return Release{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	r, err := parse(n.Text)
	if err != nil {
		return Release{}, err
	}
	if r.OS != goos || r.Arch != goarch {
		return Release{}, fmt.Errorf("%w: it is for %s/%s, this agent runs on %s/%s", ErrWrongTarget, r.OS, r.Arch, goos, goarch)
	}
	if semver.IsValid(running) && semver.Compare(r.Version, running) <= 0 && !r.AllowDowngrade {
		return Release{}, fmt.Errorf("%w: release %s, running %s", ErrDowngrade, r.Version, running)
	}
	return r, nil
}

// Describe reads what a release file says WITHOUT verifying its
// signature: the server, which holds no release key, uses it to file an
// uploaded release and check that the binary matches it. Agents verify
// with Check and Verify.
func Describe(file []byte) (Release, error) {
	text, _, ok := strings.Cut(string(file), "\n\n")
	if !ok {
		return Release{}, fmt.Errorf("%w: no signature block", ErrMalformed)
	}
	return parse(text + "\n")
}

// Matches reports whether binary is the one r describes (size and SHA-256).
func (r Release) Matches(binary []byte) bool {
	sum := sha256.Sum256(binary)
	return int64(len(binary)) == r.Size && hex.EncodeToString(sum[:]) == r.SHA256
}

// parse reads the signed text, which must be exactly what text writes.
func parse(text string) (Release, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	keys := []string{"version", "os", "arch", "size", "sha256", "allow-downgrade"}
	if len(lines) != len(keys)+1 || lines[0] != header {
		return Release{}, fmt.Errorf("%w: want %q and %d fields", ErrMalformed, header, len(keys))
	}
	vals := map[string]string{}
	for i, k := range keys {
		key, val, ok := strings.Cut(lines[i+1], " ")
		if !ok || key != k || val == "" {
			return Release{}, fmt.Errorf("%w: line %d: want %q", ErrMalformed, i+2, k)
		}
		vals[k] = val
	}
	size, err := strconv.ParseInt(vals["size"], 10, 64)
	if err != nil || size <= 0 {
		return Release{}, fmt.Errorf("%w: size %q", ErrMalformed, vals["size"])
	}
	down, err := strconv.ParseBool(vals["allow-downgrade"])
	if err != nil {
		return Release{}, fmt.Errorf("%w: allow-downgrade %q", ErrMalformed, vals["allow-downgrade"])
	}
	if b, err := hex.DecodeString(vals["sha256"]); err != nil || len(b) != sha256.Size {
		return Release{}, fmt.Errorf("%w: sha256 %q", ErrMalformed, vals["sha256"])
	}
	r := Release{Version: vals["version"], OS: vals["os"], Arch: vals["arch"], SHA256: vals["sha256"], Size: size, AllowDowngrade: down}
	if !semver.IsValid(r.Version) {
		return Release{}, fmt.Errorf("%w: version %q", ErrMalformed, r.Version)
	}
	if !bytes.Equal([]byte(r.text()), []byte(text)) {
		return Release{}, fmt.Errorf("%w: not in canonical form", ErrMalformed)
	}
	return r, nil
}

// CheckVerifierKey reports whether vkey is a verifier key as GenerateKey
// writes it, so a package never pins a key agents cannot use.
func CheckVerifierKey(vkey string) error {
	if _, err := note.NewVerifier(strings.TrimSpace(vkey)); err != nil {
		return fmt.Errorf("not a release verifier key (make one with `patchbay release-key create`): %w", err)
	}
	return nil
}
