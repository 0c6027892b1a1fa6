package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/packaging"
	"github.com/patchbay/patchbay/internal/release"
	"github.com/spf13/cobra"
)

func newReleaseKeyCmd() *cobra.Command {
	group := &cobra.Command{Use: "release-key", Short: "The offline key that signs agent releases"}
	var out, name string
	create := &cobra.Command{
		Use:   "create",
		Short: "Make a release key pair: DIR/release.key (secret, keep it offline) and DIR/release.pub (pin it in agent packages)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			skey, vkey, err := release.GenerateKey(name)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return err
			}
			secret, public := filepath.Join(out, "release.key"), filepath.Join(out, "release.pub")
			// O_EXCL: never overwrite a key agents may already pin.
			f, err := os.OpenFile(secret, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("%s exists: a new key would orphan every agent pinning the old one; choose another --out", secret)
			}
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintln(f, skey); err != nil {
				f.Close()
				return err
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if err := os.WriteFile(public, []byte(vkey+"\n"), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n%s\n", secret, public)
			return nil
		},
	}
	create.Flags().StringVar(&out, "out", ".", "directory for release.key and release.pub")
	create.Flags().StringVar(&name, "name", "patchbay-release", "key name written into signatures")
	group.AddCommand(create)
	return group
}

func newReleaseCmd(g *globals) *cobra.Command {
	group := &cobra.Command{Use: "release", Short: "Sign agent binaries for self-update, upload them and list them"}
	var key, binary, version, out string
	var allowDowngrade bool
	sign := &cobra.Command{
		Use:   "sign",
		Short: "Sign a patchbay-agent binary: writes BINARY.release naming its version, OS, architecture, size and SHA-256",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			skey, err := os.ReadFile(key)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			bin, err := os.ReadFile(binary)
			if err != nil {
				return fmt.Errorf("--binary: %w", err)
			}
			arch, err := packaging.BinaryArch(binary)
			if err != nil {
				return fmt.Errorf("--binary: %w", err)
			}
			r, err := release.New(bin, version, "linux", arch, allowDowngrade)
			if err != nil {
				return fmt.Errorf("--version: %w", err)
			}
			file, err := release.Sign(r, strings.TrimSpace(string(skey)))
			if err != nil {
				return fmt.Errorf("--key %s: %w", key, err)
			}
			if out == "" {
				out = binary + ".release"
			}
			if err := os.WriteFile(out, file, 0o644); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out)
			return nil
		},
	}
	fl := sign.Flags()
	fl.StringVar(&key, "key", "release.key", "release signer key from `patchbay release-key create`")
	fl.StringVar(&binary, "binary", "", "the patchbay-agent binary to sign")
	fl.StringVar(&version, "version", "", "its version, semantic with a leading v: v1.4.0")
	fl.BoolVar(&allowDowngrade, "allow-downgrade", false, "let agents running a newer version install this one (a deliberate rollback)")
	fl.StringVar(&out, "out", "", "release file to write (default BINARY.release)")
	_ = sign.MarkFlagRequired("binary")
	_ = sign.MarkFlagRequired("version")
	group.AddCommand(sign, newReleaseUploadCmd(g), newReleaseListCmd(g))
	return group
}

// releaseView is an uploaded release as the API lists it.
type releaseView struct {
	Version        string    `json:"version"`
	OS             string    `json:"os"`
	Arch           string    `json:"arch"`
	Size           int64     `json:"size"`
	SHA256         string    `json:"sha256"`
	AllowDowngrade bool      `json:"allow_downgrade,omitempty"`
	UploadedBy     string    `json:"uploaded_by"`
	UploadedAt     time.Time `json:"uploaded_at"`
}

func newReleaseUploadCmd(g *globals) *cobra.Command {
	var binary, note string
	cmd := &cobra.Command{
		Use:   "upload",
		Short: "Upload a signed agent release to the server, for `changes create --agent-release VERSION`",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if note == "" {
				note = binary + ".release"
			}
			bin, err := os.ReadFile(binary)
			if err != nil {
				return fmt.Errorf("--binary: %w", err)
			}
			file, err := os.ReadFile(note)
			if err != nil {
				return fmt.Errorf("--release: %w", err)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			var v releaseView
			body := map[string]any{"note": string(file), "binary": bin}
			if err := c.Do(cmd.Context(), "POST", "/api/v1/releases", nil, body, &v); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "uploaded patchbay-agent %s for %s/%s (%d bytes)\n", v.Version, v.OS, v.Arch, v.Size)
			return nil
		},
	}
	cmd.Flags().StringVar(&binary, "binary", "", "the signed patchbay-agent binary")
	cmd.Flags().StringVar(&note, "release", "", "its release file (default BINARY.release)")
	_ = cmd.MarkFlagRequired("binary")
	return cmd
}

func newReleaseListCmd(g *globals) *cobra.Command {
	var version string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the agent releases uploaded to the server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var rs []releaseView
			q := url.Values{}
			if version != "" {
				q.Set("version", version)
			}
			if err := c.Do(cmd.Context(), "GET", "/api/v1/releases", q, nil, &rs); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), rs)
			}
			t := newTable(cmd.OutOrStdout(), "VERSION", "PLATFORM", "SIZE", "DOWNGRADE", "UPLOADED", "BY")
			for _, r := range rs {
				down := "no"
				if r.AllowDowngrade {
					down = "allowed"
				}
				t.row(r.Version, r.OS+"/"+r.Arch, strconv.FormatInt(r.Size, 10), down, r.UploadedAt.Local().Format(time.RFC3339), r.UploadedBy)
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "only this version")
	return cmd
}
