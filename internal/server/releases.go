package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/semver"

	"github.com/patchbay/patchbay/internal/change"
	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/release"
	"github.com/patchbay/patchbay/internal/store"
)

// Agent self-updates through the server: an administrator uploads a
// release (the agent binary and its note, signed offline with the release
// key by `patchbay release sign`); a change whose target is an agent
// version (ChangeSpec.AgentRelease) rolls it out through rings, windows,
// batches and the failure budget as agent_update jobs carrying the note;
// each agent verifies the note against the key pinned on its host,
// fetches the binary from the server over its mTLS channel and swaps it
// in. The server holds no release key: it can refuse a release but never
// make one an agent accepts.

// MaxReleaseUpload bounds an upload's JSON body: a lean agent is about
// 10 MB, base64 grows it by a third.
const MaxReleaseUpload = 96 << 20

// ReleaseUpload is the body of POST /api/v1/releases.
type ReleaseUpload struct {
	Note   string `json:"note"`   // the .release file
	Binary []byte `json:"binary"` // base64 in JSON
}

// ReleaseView is an uploaded release as the API lists it.
type ReleaseView struct {
	Version        string    `json:"version"`
	OS             string    `json:"os"`
	Arch           string    `json:"arch"`
	Size           int64     `json:"size"`
	SHA256         string    `json:"sha256"`
	AllowDowngrade bool      `json:"allow_downgrade,omitempty"`
	UploadedBy     string    `json:"uploaded_by"`
	UploadedAt     time.Time `json:"uploaded_at"`
}

func releaseView(r store.AgentRelease) ReleaseView {
	v := ReleaseView{Version: r.Version, OS: r.OS, Arch: r.Arch, Size: r.Size, SHA256: r.SHA256, UploadedBy: r.UploadedBy, UploadedAt: r.UploadedAt}
	if d, err := release.Describe(r.Note); err == nil {
		v.AllowDowngrade = d.AllowDowngrade
	}
	return v
}

// handleUploadRelease stores an agent release. The server cannot verify
// the signature (it holds no release key, on purpose); it checks that the
// note is well formed and that the binary is the one it describes, so a
// rollout never sends agents a note whose binary they would refuse.
func (s *Server) handleUploadRelease(w http.ResponseWriter, r *http.Request) error {
	var up ReleaseUpload
	if err := decodeJSON(w, r, MaxReleaseUpload, &up); err != nil {
		return err
	}
	d, err := release.Describe([]byte(up.Note))
	if err != nil {
		return errBadRequest("note: " + err.Error() + "; give the .release file `patchbay release sign` wrote")
	}
	if !d.Matches(up.Binary) {
		return errBadRequest(fmt.Sprintf("binary: %d bytes do not match the note's size %d and SHA-256 %s; upload the binary that was signed", len(up.Binary), d.Size, d.SHA256))
	}
	rel := store.AgentRelease{Version: d.Version, OS: d.OS, Arch: d.Arch, Note: []byte(up.Note), SHA256: d.SHA256, Size: d.Size,
		Binary: up.Binary, UploadedBy: principalName(r.Context(), s), UploadedAt: s.now()}
	auditSummary(r.Context(), "agent release %s for %s/%s uploaded by %s (%d bytes, SHA-256 %s, downgrade allowed: %t)",
		d.Version, d.OS, d.Arch, rel.UploadedBy, d.Size, d.SHA256, d.AllowDowngrade)
	if err := s.store.PutAgentRelease(r.Context(), rel); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &Error{http.StatusConflict, "conflict", fmt.Sprintf("release %s for %s/%s is already uploaded; a release is never replaced, sign a new version", d.Version, d.OS, d.Arch)}
		}
		return err
	}
	return writeJSON(w, http.StatusCreated, releaseView(rel))
}

// handleListReleases lists uploaded releases (?version=).
func (s *Server) handleListReleases(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.store.AgentReleases(r.Context(), r.URL.Query().Get("version"))
	if err != nil {
		return err
	}
	out := make([]ReleaseView, 0, len(rs))
	for _, rel := range rs {
		out = append(out, releaseView(rel))
	}
	return writeJSON(w, http.StatusOK, out)
}

// releaseCache keeps the few release binaries a rollout is handing out, so
// a batch of agents fetching one at once shares one copy in memory
// instead of reading it from the database each (a lean agent is ~10 MB).
type releaseCache struct {
	mu      sync.Mutex
	entries []cachedBinary // newest last, at most maxCachedReleases
}

type cachedBinary struct {
	key string
	bin []byte
}

const maxCachedReleases = 4

func (c *releaseCache) get(ctx context.Context, st *store.DB, version, goos, goarch string) ([]byte, error) {
	key := version + "/" + goos + "/" + goarch
	c.mu.Lock()
	defer c.mu.Unlock() // one read from the database at a time, then shared
	for _, e := range c.entries {
		if e.key == key {
			return e.bin, nil
		}
	}
	rel, err := st.AgentReleaseBinary(ctx, version, goos, goarch)
	if err != nil {
		return nil, err
	}
	c.entries = append(c.entries, cachedBinary{key, rel.Binary})
	if len(c.entries) > maxCachedReleases {
		c.entries = c.entries[1:]
	}
	return rel.Binary, nil
}

// handleAgentRelease serves a release binary to an enrolled agent. The
// agent verifies it against the note it checked with its pinned key.
// Releases are never replaced, so a cached copy is never stale.
func (s *Server) handleAgentRelease(w http.ResponseWriter, r *http.Request) error {
	bin, err := s.binaries.get(r.Context(), s.store, r.PathValue("version"), r.PathValue("os"), r.PathValue("arch"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(bin)))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(bin)
	return err
}

// agentPackage names the agent in an agent update's plan and results, as
// the agent reports it (agent.AgentPackage).
const agentPackage = "patchbay-agent"

// checkAgentReleaseSpec refuses what an agent update cannot combine with.
func checkAgentReleaseSpec(spec ChangeSpec) error {
	if spec.AgentRelease == "" {
		return nil
	}
	switch {
	case !semver.IsValid(spec.AgentRelease):
		return errBadRequest(fmt.Sprintf("agent_release: %q is not a version such as v1.4.0", spec.AgentRelease))
	case len(spec.Packages) > 0 || len(spec.Advisories) > 0:
		return errBadRequest("agent_release: an agent update changes the agent only; make packages and advisories another change")
	case spec.AutoRollback:
		return errBadRequest("auto_rollback: an agent that misses its deadline puts its previous binary back by itself; to go back after a success, roll out an older release signed with --allow-downgrade")
	case spec.Reboot != "":
		return errBadRequest("reboot: an agent update never reboots")
	}
	return nil
}

// agentReleasePlatforms are the uploaded releases of version by
// "os/arch", or a clear error when there is none.
func (s *Server) agentReleasePlatforms(ctx context.Context, version string) (map[string]release.Release, error) {
	rs, err := s.store.AgentReleases(ctx, version)
	if err != nil {
		return nil, err
	}
	out := map[string]release.Release{}
	for _, r := range rs {
		d, err := release.Describe(r.Note)
		if err != nil {
			return nil, fmt.Errorf("stored release %s %s/%s: %w", r.Version, r.OS, r.Arch, err)
		}
		out[r.OS+"/"+r.Arch] = d
	}
	if len(out) == 0 {
		return nil, &Error{http.StatusNotFound, "not_found", fmt.Sprintf("agent_release: no release %s is uploaded; upload it with patchbay release upload", version)}
	}
	return out, nil
}

// agentTargets plans the agent update of one host: nothing when it runs
// the release already; excluded when it does not report its agent or no
// release fits its platform; a refused downgrade unless the note allows it.
func agentTargets(h store.Host, version string, platforms map[string]release.Release) []PlanTarget {
	running := h.Facts.AgentVersion
	t := PlanTarget{Name: agentPackage, Installed: running, Version: version, Status: string(change.Planned)}
	r, ok := platforms[h.Facts.AgentPlatform]
	switch {
	case running == version:
		return nil
	case running == "" || h.Facts.AgentPlatform == "":
		t.Status, t.Reason = string(change.Excluded), "its agent does not report its version (`patchbay agent`, or an agent older than self-updates): update it by package"
	case !ok:
		t.Status, t.Reason = string(change.Excluded), fmt.Sprintf("no release %s is uploaded for its platform %s", version, h.Facts.AgentPlatform)
	case semver.IsValid(running) && semver.Compare(version, running) < 0 && !r.AllowDowngrade:
		t.Status, t.Reason = string(change.DowngradeRefused), fmt.Sprintf("its agent runs %s, newer than %s, and the release does not allow a downgrade", running, version)
	}
	return []PlanTarget{t}
}

// agentUpdateJob is the dispatch job of an agent update for host: the
// note of the release for its platform.
func (s *Server) agentUpdateJob(ctx context.Context, version, hostID string) (protocol.Job, string, error) {
	h, err := s.store.GetHost(ctx, hostID)
	if err != nil {
		return protocol.Job{}, "", err
	}
	goos, goarch, _ := strings.Cut(h.Facts.AgentPlatform, "/")
	rel, err := s.store.AgentReleases(ctx, version)
	if err != nil {
		return protocol.Job{}, "", err
	}
	for _, r := range rel {
		if r.OS == goos && r.Arch == goarch {
			return protocol.Job{Action: protocol.ActionAgentUpdate, Release: r.Note}, "", nil
		}
	}
	return protocol.Job{}, fmt.Sprintf("no release %s is uploaded for its platform %q", version, h.Facts.AgentPlatform), nil
}

// agentReleaseOf is the agent version a change rolls out, "" for a
// package change.
func agentReleaseOf(c *store.Change) string {
	var spec struct {
		AgentRelease string `json:"agent_release"`
	}
	_ = json.Unmarshal(c.Spec, &spec)
	return spec.AgentRelease
}
