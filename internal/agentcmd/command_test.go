package agentcmd

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// resolveArgs parses args with the agent command's flags and merges them
// with env and the file.
func resolveArgs(t *testing.T, env map[string]string, args ...string) (Options, error) {
	t.Helper()
	cmd, f := newCommand("patchbay-agent", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return resolve(cmd.Flags(), *f, func(k string) string { return env[k] })
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const fullFile = `server: https://file.example:8443
enroll_token: pbe_file
ca_file: /file/ca.crt
labels: {env: file}
checkin_interval: 10m
state_dir: /file/state
hooks: /file/hooks.json
`

func TestFlagsWinOverEnvironmentWhichWinsOverTheFile(t *testing.T) {
	path := writeConfig(t, fullFile)
	env := map[string]string{EnvServer: "https://env.example:8443", EnvStateDir: "/env/state", EnvLabels: "env=envvar,team=ops", EnvCheckinInterval: "2m"}
	o, err := resolveArgs(t, env, "--config", path, "--server", "https://flag.example:8443", "--label", "env=flag")
	if err != nil {
		t.Fatal(err)
	}
	want := Options{
		Server:      "https://flag.example:8443", // flag
		CAFile:      "/file/ca.crt",              // file only
		EnrollToken: "pbe_file", TokenFromFile: true, ConfigFile: path,
		StateDir: "/env/state",       // env over file
		Hooks:    "/file/hooks.json", // file over default
		Interval: 2 * time.Minute,    // env over file
	}
	if o.Server != want.Server || o.CAFile != want.CAFile || o.EnrollToken != want.EnrollToken || o.TokenFromFile != want.TokenFromFile ||
		o.ConfigFile != want.ConfigFile || o.StateDir != want.StateDir || o.Hooks != want.Hooks || o.Interval != want.Interval {
		t.Errorf("resolved %+v\nwant %+v", o, want)
	}
	if len(o.Labels) != 1 || o.Labels["env"] != "flag" {
		t.Errorf("labels = %v, want the flag's env=flag only", o.Labels)
	}
}

func TestATokenFromTheEnvironmentIsNotRemovedFromTheFile(t *testing.T) {
	path := writeConfig(t, fullFile)
	o, err := resolveArgs(t, map[string]string{EnvEnrollToken: "pbe_env"}, "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	if o.EnrollToken != "pbe_env" || o.TokenFromFile {
		t.Errorf("token %q fromFile=%v, want pbe_env from the environment", o.EnrollToken, o.TokenFromFile)
	}
	if o.Labels["env"] != "file" || o.Interval != 10*time.Minute {
		t.Errorf("labels %v interval %v, want the file's", o.Labels, o.Interval)
	}
}

func TestDefaultsApplyWithoutAFileAtTheDefaultPath(t *testing.T) {
	o, err := resolveArgs(t, nil, "--server", "https://a:1")
	if err != nil {
		// The default path exists on this machine: the test cannot tell.
		if _, serr := os.Stat("/etc/patchbay/agent.yaml"); serr == nil {
			t.Skip("this machine has /etc/patchbay/agent.yaml")
		}
		t.Fatal(err)
	}
	if o.StateDir != DefaultStateDir || o.Hooks != "/etc/patchbay/agent-hooks.json" || o.ConfigFile != "" || o.Interval != 0 {
		t.Errorf("resolved %+v", o)
	}
}

func TestConfigErrorsNameTheProblem(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	bad := writeConfig(t, "server: https://a:1\nintervall: 5m\n")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"a named config file must exist", nil, []string{"--config", missing}, "no such file"},
		{"a config file named in the environment must exist", map[string]string{EnvConfig: missing}, nil, "no such file"},
		{"an unknown key is refused by name", nil, []string{"--config", bad}, `unknown key "intervall"`},
		{"no server anywhere", nil, []string{"--config", writeConfig(t, "state_dir: /x\n")}, "no server URL"},
		{"a bad interval in the environment", map[string]string{EnvCheckinInterval: "often"}, []string{"--config", writeConfig(t, fullFile)}, EnvCheckinInterval},
		{"a label without =", nil, []string{"--config", writeConfig(t, fullFile), "--label", "prod"}, `--label "prod": want key=value`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resolveArgs(t, tc.env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
