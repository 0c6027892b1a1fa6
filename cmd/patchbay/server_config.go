package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// DefaultServerConfig is where the packaged server unit reads its
// configuration.
const DefaultServerConfig = "/etc/patchbay/server.yaml"

// configFileSkips are flags of `patchbay server` that make no sense in the
// file itself.
var configFileSkips = []string{"config", "help"}

// applyServerConfig sets every flag of fs that the command line did not
// set from the YAML file at path: the file's keys are the flag names
// without "--", so every flag is settable and a flag added later is too.
// The file is parsed strictly: an unknown or repeated key, a list for a
// flag that takes one value and a value the flag refuses are errors naming
// the key and its line. Flags given on the command line win over the file.
func applyServerConfig(fs *pflag.FlagSet, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("server config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file sets nothing
		}
		return fmt.Errorf("server config %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("server config %s: line %d: want a mapping of flag names to values, like \"listen: 0.0.0.0:8443\"", path, root.Line)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key := k.Value
		fail := func(format string, args ...any) error {
			return fmt.Errorf("server config %s: line %d: %s: %s", path, k.Line, key, fmt.Sprintf(format, args...))
		}
		if first, dup := seen[key]; dup {
			return fail("set twice (first on line %d)", first)
		}
		seen[key] = k.Line
		f := fs.Lookup(key)
		if f == nil || slices.Contains(configFileSkips, key) {
			return fail("unknown key; the keys are the flags of `patchbay server` without \"--\": %s", strings.Join(configKeys(fs), ", "))
		}
		if f.Changed {
			continue // the command line wins
		}
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" {
				return fail("no value")
			}
			if err := f.Value.Set(v.Value); err != nil {
				return fail("%v", err)
			}
		case yaml.SequenceNode:
			if !repeatable(f) {
				return fail("takes one value, not a list")
			}
			if len(v.Content) == 0 {
				if err := clearFlag(f); err != nil {
					return fail("%v", err)
				}
			}
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
					return fail("line %d: each item must be a plain value", item.Line)
				}
				if err := f.Value.Set(item.Value); err != nil {
					return fail("%v", err)
				}
			}
		default:
			return fail("want a value or a list of values")
		}
	}
	return nil
}

// repeatable says whether a flag takes a list.
func repeatable(f *pflag.Flag) bool {
	if _, ok := f.Value.(pflag.SliceValue); ok {
		return true
	}
	_, ok := f.Value.(*feedSources)
	return ok
}

// clearFlag empties a list flag for "key: []".
func clearFlag(f *pflag.Flag) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.Replace(nil)
	}
	return f.Value.Set("none")
}

// configKeys lists the keys a server config file may hold.
func configKeys(fs *pflag.FlagSet) []string {
	var keys []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !slices.Contains(configFileSkips, f.Name) {
			keys = append(keys, f.Name)
		}
	})
	return keys
}
