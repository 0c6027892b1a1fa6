package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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

func newReleaseCmd() *cobra.Command {
	group := &cobra.Command{Use: "release", Short: "Sign agent binaries for self-update"}
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
	group.AddCommand(sign)
	return group
}
