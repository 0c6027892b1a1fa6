package packaging

import (
	"bytes"
	"debug/elf"
	"embed"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/apk" // registers the apk packager
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
	"github.com/patchbay/patchbay/internal/agent"
	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/release"
	"go.yaml.in/yaml/v3"
)

// Where the package puts things on the host.
const (
	Name       = "patchbay-agent"
	BinaryPath = "/usr/bin/patchbay-agent"
	UnitPath   = "/usr/lib/systemd/system/patchbay-agent.service"
	// GuardPath is the unit's ExecStartPre= script that puts the previous
	// binary back when a self-update on trial crashes or misses its
	// deadline, without running the new binary.
	GuardPath  = "/usr/lib/patchbay/agent-revert-guard"
	ConfigPath = agent.DefaultConfigPath
	HooksPath  = agent.DefaultHooksPath
	// ReleaseKeyPath pins the release key agents verify self-updates with.
	ReleaseKeyPath = release.DefaultKeyPath
)

// Formats are the package formats Build makes.
var Formats = []string{"deb", "rpm", "apk"}

//go:embed files
var templates embed.FS

// Spec says what package to build.
type Spec struct {
	Format          string // deb, rpm or apk
	AgentBinary     string // the patchbay-agent executable (Linux ELF) to ship
	Version         string // package version; "" means 0.0.0
	Server          string // https://host:port
	EnrollToken     string
	Labels          map[string]string
	CheckinInterval time.Duration // 0: the server's
	OutDir          string        // "" means the current directory
	// ReleaseKey, when set, is the release verifier key (release.pub)
	// pinned at ReleaseKeyPath.
	ReleaseKey string
	// MTime stamps every file in the package, so that the same inputs make
	// the same package. Zero means the Unix epoch.
	MTime time.Time
}

// Build writes the package Spec describes into OutDir and returns its path.
func Build(s Spec) (string, error) {
	if !slices.Contains(Formats, s.Format) {
		return "", fmt.Errorf("--type %q: use one of deb, rpm, apk", s.Format)
	}
	if u, err := url.Parse(s.Server); err != nil || u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("--server %q: give the server's https:// URL", s.Server)
	}
	if _, _, err := protocol.ParseEnrollToken(s.EnrollToken); err != nil {
		return "", fmt.Errorf("--enroll-token: %w", err)
	}
	arch, err := BinaryArch(s.AgentBinary)
	if err != nil {
		return "", err
	}
	config, err := renderConfig(s)
	if err != nil {
		return "", err
	}
	if s.ReleaseKey != "" {
		if err := release.CheckVerifierKey(s.ReleaseKey); err != nil {
			return "", fmt.Errorf("--release-key: %w", err)
		}
	}
	if s.Version == "" {
		s.Version = "0.0.0"
	}
	if s.MTime.IsZero() {
		s.MTime = time.Unix(0, 0).UTC()
	}

	// nfpm reads every file from disk: stage the generated ones.
	stage, err := os.MkdirTemp("", "patchbay-package-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	staged := map[string]string{}
	generated := map[string][]byte{"agent.yaml": config}
	if s.ReleaseKey != "" {
		generated["release.pub"] = []byte(strings.TrimSpace(s.ReleaseKey) + "\n")
	}
	for name, content := range generated {
		staged[name] = filepath.Join(stage, name)
		if err := os.WriteFile(staged[name], content, 0o600); err != nil {
			return "", err
		}
	}
	for _, name := range []string{"patchbay-agent.service", "agent-revert-guard", "agent-hooks.json", "postinst.sh", "prerm.sh", "postrm.sh"} {
		b, err := templates.ReadFile("files/" + name)
		if err != nil {
			return "", err
		}
		staged[name] = filepath.Join(stage, name)
		if err := os.WriteFile(staged[name], b, 0o600); err != nil {
			return "", err
		}
	}

	owned := func(mode os.FileMode) *files.ContentFileInfo {
		return &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: s.MTime}
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:        Name,
		Arch:        arch,
		Platform:    "linux",
		Version:     s.Version,
		Maintainer:  "Patchbay <patchbay@localhost>",
		Description: "Patchbay agent: reports this host's packages to a Patchbay server and runs its signed patch jobs",
		Vendor:      "Patchbay",
		Section:     "admin",
		License:     "Apache-2.0",
		MTime:       s.MTime,
		Overridables: nfpm.Overridables{
			Umask: 0o022,
			Contents: files.Contents{
				{Source: s.AgentBinary, Destination: BinaryPath, FileInfo: owned(0o755)},
				{Source: staged["patchbay-agent.service"], Destination: UnitPath, FileInfo: owned(0o644)},
				{Source: staged["agent-revert-guard"], Destination: GuardPath, FileInfo: owned(0o755)},
				{Destination: "/etc/patchbay", Type: files.TypeDir, FileInfo: owned(0o755)},
				// Holds the enrollment token until the first start: root only.
				{Source: staged["agent.yaml"], Destination: ConfigPath, Type: files.TypeConfigNoReplace, FileInfo: owned(0o600)},
				// Whoever can write it can run commands as root through jobs:
				// root-owned, writable by root only (the agent refuses it otherwise).
				{Source: staged["agent-hooks.json"], Destination: HooksPath, Type: files.TypeConfigNoReplace, FileInfo: owned(0o640)},
			},
			Scripts: nfpm.Scripts{
				PostInstall: staged["postinst.sh"],
				PreRemove:   staged["prerm.sh"],
				PostRemove:  staged["postrm.sh"],
			},
		},
	})
	if s.ReleaseKey != "" {
		// Root-owned and read-only: whoever replaces it can sign agent binaries.
		info.Contents = append(info.Contents, &files.Content{Source: staged["release.pub"], Destination: ReleaseKeyPath,
			Type: files.TypeConfig, FileInfo: owned(0o644)})
	}
	if err := nfpm.PrepareForPackager(info, s.Format); err != nil {
		return "", fmt.Errorf("package: %w", err)
	}
	packager, err := nfpm.Get(s.Format)
	if err != nil {
		return "", err
	}
	out := s.OutDir
	if out == "" {
		out = "."
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(out, packager.ConventionalFileName(info))
	var buf bytes.Buffer
	if err := packager.Package(info, &buf); err != nil {
		return "", fmt.Errorf("build %s package: %w", s.Format, err)
	}
	// The package holds the enrollment token: readable by its owner only.
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return "", err
	}
	return path, nil
}

// renderConfig writes agent.yaml and checks that the agent's own parser
// reads back what was meant.
func renderConfig(s Spec) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`# Patchbay agent configuration, written by "patchbay package".
# Settings here are overridden by the environment (PATCHBAY_SERVER, ...),
# which is overridden by flags. Unknown keys are refused.
# enroll_token is needed on the first start only: the agent removes it from
# this file once the host is enrolled.
`)
	top := &yaml.Node{Kind: yaml.MappingNode}
	add := func(k string, v *yaml.Node) {
		top.Content = append(top.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, v)
	}
	str := func(v string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Style: yaml.DoubleQuotedStyle}
	}
	add("server", str(s.Server))
	add("enroll_token", str(s.EnrollToken))
	if len(s.Labels) > 0 {
		labels := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
			if k == "" {
				return nil, errors.New("--label: a label needs a key")
			}
			labels.Content = append(labels.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, str(s.Labels[k]))
		}
		add("labels", labels)
	}
	if s.CheckinInterval > 0 {
		add("checkin_interval", str(s.CheckinInterval.String()))
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(top); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	back, err := agent.ParseConfig(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("the agent would refuse the generated config: %w", err)
	}
	if back.Server != s.Server || back.EnrollToken != s.EnrollToken || back.CheckinInterval != s.CheckinInterval ||
		(len(s.Labels) > 0 && !maps.Equal(back.Labels, s.Labels)) {
		return nil, errors.New("the generated config does not read back as written")
	}
	return b.Bytes(), nil
}

// BinaryArch names the Go architecture of a Linux ELF executable, which is
// the package's architecture; nfpm translates it per format (amd64 →
// x86_64 for rpm).
func BinaryArch(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("agent binary %s: %w", path, err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return "", fmt.Errorf("agent binary %s: not an executable", path)
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_386:
		return "386", nil
	case elf.EM_ARM:
		return "arm7", nil
	case elf.EM_RISCV:
		return "riscv64", nil
	case elf.EM_PPC64:
		return "ppc64le", nil
	case elf.EM_S390:
		return "s390x", nil
	}
	return "", fmt.Errorf("agent binary %s: unsupported machine %v", path, f.Machine)
}
