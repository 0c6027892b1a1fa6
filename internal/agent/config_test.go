package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfigReadsEveryKey(t *testing.T) {
	c, err := ParseConfig([]byte(`# written by patchbay package
server: https://patchbay.example.com:8443
enroll_token: pbe_abc.def
ca_file: /etc/patchbay/ca.crt
labels:
  env: prod
  team: "db"
checkin_interval: 90s
state_dir: /srv/agent
hooks: /etc/patchbay/hooks.json
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server != "https://patchbay.example.com:8443" || c.EnrollToken != "pbe_abc.def" || c.CAFile != "/etc/patchbay/ca.crt" ||
		c.CheckinInterval != 90*time.Second || c.StateDir != "/srv/agent" || c.Hooks != "/etc/patchbay/hooks.json" {
		t.Errorf("parsed %+v", c)
	}
	if len(c.Labels) != 2 || c.Labels["env"] != "prod" || c.Labels["team"] != "db" {
		t.Errorf("labels = %v, want env=prod team=db", c.Labels)
	}
}

func TestParseConfigRefusesWhatItDoesNotKnow(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"a misspelt key is named with its line", "server: https://a:1\nenrol_token: x\n", `line 2: unknown key "enrol_token"`},
		{"a key given twice", "server: https://a:1\nserver: https://b:1\n", `line 2: key "server" given twice`},
		{"a number where a string belongs", "server: 8443\n", "line 1: server: want a string"},
		{"a bad interval", "checkin_interval: soon\n", `line 1: checkin_interval: "soon" is not a positive duration`},
		{"a negative interval", "checkin_interval: -5m\n", `"-5m" is not a positive duration`},
		{"labels as a list", "labels: [a, b]\n", "line 1: labels: want a mapping"},
		{"a list at the top", "- server\n", "line 1: want a mapping"},
		{"a label given twice", "labels:\n  env: a\n  env: b\n", `label "env" given twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseConfigAcceptsAnEmptyFile(t *testing.T) {
	c, err := ParseConfig([]byte("# nothing yet\n"))
	if err != nil || c.Server != "" || c.Labels != nil {
		t.Fatalf("got %+v, %v; want an empty config", c, err)
	}
}

func TestLoadConfigFileReportsAMissingFileAsNotExist(t *testing.T) {
	_, err := LoadConfigFile(filepath.Join(t.TempDir(), "agent.yaml"))
	if !os.IsNotExist(err) && !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err = %v, want a not-exist error", err)
	}
}

func TestRemoveEnrollTokenKeepsTheRestOfTheFileAndItsMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	in := `# Patchbay agent configuration
server: https://patchbay.example.com:8443
# used on first start only
enroll_token: pbe_abc.def
labels:
  env: prod
checkin_interval: 5m
`
	if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := RemoveEnrollToken(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `# Patchbay agent configuration
server: https://patchbay.example.com:8443
labels:
  env: prod
checkin_interval: 5m
`
	if string(b) != want {
		t.Errorf("file after removal:\n%s\nwant:\n%s", b, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	c, err := LoadConfigFile(path)
	if err != nil || c.EnrollToken != "" || c.Server != "https://patchbay.example.com:8443" {
		t.Errorf("reloaded %+v, %v", c, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after the rewrite, want only agent.yaml", len(entries))
	}
}

func TestRemoveEnrollTokenLeavesAFileWithoutOneUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	in := "server:    https://a:1   # odd spacing stays\n"
	if err := os.WriteFile(path, []byte(in), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := RemoveEnrollToken(path); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != in {
		t.Errorf("file changed to %q", b)
	}
}
