package agent

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/durable"
	"go.yaml.in/yaml/v3"
)

// DefaultConfigPath is where the agent reads its configuration file unless
// told otherwise; a missing file at this path means no file.
const DefaultConfigPath = "/etc/patchbay/agent.yaml"

// FileConfig is the agent's configuration file, /etc/patchbay/agent.yaml.
// Every key is optional; flags and environment variables override it.
type FileConfig struct {
	Server      string `yaml:"server"`       // https://host:port
	EnrollToken string `yaml:"enroll_token"` // removed from the file once the host is enrolled
	CAFile      string `yaml:"ca_file"`      // trust this CA instead of the token's fingerprint
	// Labels are the host labels the package was built with, key → value.
	Labels          map[string]string `yaml:"labels"`
	CheckinInterval time.Duration     `yaml:"-"` // from checkin_interval: "5m", "90s"
	StateDir        string            `yaml:"state_dir"`
	Hooks           string            `yaml:"hooks"` // the hooks file's path
}

// configKeys are the keys the file may hold; anything else is refused so a
// misspelt key ("enrol_token") is not silently ignored.
var configKeys = []string{"server", "enroll_token", "ca_file", "labels", "checkin_interval", "state_dir", "hooks"}

// maxConfigBytes bounds the file: it is a handful of keys.
const maxConfigBytes = 64 << 10

// LoadConfigFile reads and validates the configuration file at path. A
// missing file is an error wrapping os.ErrNotExist. Unknown or repeated
// keys and values of the wrong type are refused with the key and line
// named.
func LoadConfigFile(path string) (FileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return FileConfig{}, fmt.Errorf("agent config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return FileConfig{}, fmt.Errorf("agent config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses the configuration file's content.
func ParseConfig(b []byte) (FileConfig, error) {
	var c FileConfig
	if len(b) > maxConfigBytes {
		return c, fmt.Errorf("larger than %d bytes", maxConfigBytes)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return c, err
	}
	if len(doc.Content) == 0 {
		return c, nil // an empty file: all defaults
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return c, fmt.Errorf("line %d: want a mapping of key: value", top.Line)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if !slices.Contains(configKeys, k.Value) {
			return c, fmt.Errorf("line %d: unknown key %q (known keys: %s)", k.Line, k.Value, strings.Join(configKeys, ", "))
		}
		if seen[k.Value] {
			return c, fmt.Errorf("line %d: key %q given twice", k.Line, k.Value)
		}
		seen[k.Value] = true
		if err := decodeKey(&c, k.Value, v); err != nil {
			return c, fmt.Errorf("line %d: %s: %w", v.Line, k.Value, err)
		}
	}
	return c, nil
}

func decodeKey(c *FileConfig, key string, v *yaml.Node) error {
	str := func(dst *string) error {
		if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
			return errors.New("want a string")
		}
		*dst = v.Value
		return nil
	}
	switch key {
	case "server":
		return str(&c.Server)
	case "enroll_token":
		return str(&c.EnrollToken)
	case "ca_file":
		return str(&c.CAFile)
	case "state_dir":
		return str(&c.StateDir)
	case "hooks":
		return str(&c.Hooks)
	case "checkin_interval":
		var s string
		if err := str(&s); err != nil {
			return fmt.Errorf("want a duration such as \"5m\": %w", err)
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("%q is not a positive duration such as \"5m\"", s)
		}
		c.CheckinInterval = d
		return nil
	case "labels":
		if v.Kind != yaml.MappingNode {
			return errors.New("want a mapping of label: value")
		}
		c.Labels = map[string]string{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, val := v.Content[i], v.Content[i+1]
			if k.Kind != yaml.ScalarNode || val.Kind != yaml.ScalarNode || k.Value == "" {
				return fmt.Errorf("line %d: want label: value", k.Line)
			}
			if _, dup := c.Labels[k.Value]; dup {
				return fmt.Errorf("line %d: label %q given twice", k.Line, k.Value)
			}
			c.Labels[k.Value] = val.Value
		}
		return nil
	}
	return fmt.Errorf("unknown key %q", key) // unreachable: keys are checked first
}

// RemoveEnrollToken rewrites the configuration file at path without its
// enroll_token key, keeping the other keys, their comments and the file's
// mode. The rewrite is durable (temporary file, fsync, rename, directory
// fsync), so a crash leaves either the old file or the new one. A file
// without the key is left alone.
func RemoveEnrollToken(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("agent config: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("agent config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("agent config %s: %w", path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	top := doc.Content[0]
	found := false
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "enroll_token" {
			top.Content = slices.Delete(top.Content, i, i+2)
			found = true
			break
		}
	}
	if !found {
		return nil
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if len(top.Content) == 0 {
		// An empty mapping would be written as "{}"; keep the head comment.
		top.Style = yaml.FlowStyle
	}
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("agent config %s: %w", path, err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("agent config %s: %w", path, err)
	}
	if err := durable.WriteFile(path, out.Bytes(), fi.Mode().Perm()); err != nil {
		return fmt.Errorf("agent config: remove the enrollment token: %w", err)
	}
	return nil
}
