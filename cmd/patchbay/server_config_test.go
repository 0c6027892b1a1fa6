package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay/patchbay/deploy"
	"github.com/patchbay/patchbay/internal/testenv"
)

// parseServerConfig parses args as `patchbay server` would, applies the
// config file text and returns the resulting flag values.
func parseServerConfig(t *testing.T, file string, args ...string) (map[string]string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "server.yaml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := newServerCmd()
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	if err := applyServerConfig(cmd.Flags(), path); err != nil {
		return nil, err
	}
	got := map[string]string{}
	for _, name := range []string{"listen", "data-dir", "database", "tls-san", "checkin-interval", "agent-cert-ttl", "feed-source",
		"webhook", "engine-interval", "feed-sync-interval", "log-format", "backup-dir", "backup-interval", "backup-keep"} {
		got[name] = cmd.Flags().Lookup(name).Value.String()
	}
	return got, nil
}

func TestServerConfigFileSetsEveryFlagAndFlagsWin(t *testing.T) {
	got, err := parseServerConfig(t, `
listen: 0.0.0.0:9443
data-dir: /var/lib/patchbay
database: postgres://patchbay@db/patchbay
tls-san: [pb.example.com, 10.0.0.5]
checkin-interval: 2m
agent-cert-ttl: 72h
feed-source:
  - osv-debian=https://mirror.example.com/Debian/all.zip
  - cisa-kev=https://mirror.example.com/kev.json
webhook: https://hooks.example.com/pb
engine-interval: 5s
feed-sync-interval: 0s
log-format: json
backup-dir: /srv/backups
backup-interval: 12h
backup-keep: 3
`, "--listen", "127.0.0.1:8000", "--backup-keep", "9")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"listen":             "127.0.0.1:8000", // the command line wins
		"data-dir":           "/var/lib/patchbay",
		"database":           "postgres://patchbay@db/patchbay",
		"tls-san":            "[pb.example.com,10.0.0.5]",
		"checkin-interval":   "2m0s",
		"agent-cert-ttl":     "72h0m0s",
		"feed-source":        "osv-debian=https://mirror.example.com/Debian/all.zip,cisa-kev=https://mirror.example.com/kev.json",
		"webhook":            "https://hooks.example.com/pb",
		"engine-interval":    "5s",
		"feed-sync-interval": "0s",
		"log-format":         "json",
		"backup-dir":         "/srv/backups",
		"backup-interval":    "12h0m0s",
		"backup-keep":        "9", // the command line wins
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
}

func TestServerConfigFileIsParsedStrictly(t *testing.T) {
	for _, tc := range []struct {
		name, file, wantErr string
	}{
		{"an unknown key is named with its line", "listen: 127.0.0.1:1\nlisten-addr: 0.0.0.0:8443\n", `line 2: listen-addr: unknown key`},
		{"a key set twice is refused", "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n", `line 2: listen: set twice (first on line 1)`},
		{"a list for a single-valued flag is refused", "listen: [a, b]\n", `line 1: listen: takes one value, not a list`},
		{"a bad duration names the key", "checkin-interval: soon\n", `line 1: checkin-interval: time: invalid duration "soon"`},
		{"a mapping value is refused", "tls-san: {a: b}\n", `line 1: tls-san: want a value or a list of values`},
		{"an empty value is refused", "database:\n", `line 1: database: no value`},
		{"the file must be a mapping", "- listen\n", `want a mapping of flag names to values`},
		{"--config is not a key of the file", "config: /etc/other.yaml\n", `line 1: config: unknown key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseServerConfig(t, tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestServerExampleConfigParses(t *testing.T) {
	got, err := parseServerConfig(t, deploy.ServerConfig)
	if err != nil {
		t.Fatal(err)
	}
	if got["data-dir"] != "/var/lib/patchbay" || got["log-format"] != "json" || got["listen"] != "0.0.0.0:8443" {
		t.Errorf("example config: %v", got)
	}
}

// TestServerUnitVerifies: the shipped unit passes systemd-analyze verify
// (with ExecStart pointing at the test's binary, since /usr/bin/patchbay is
// not installed here), and `patchbay server unit` prints exactly that file.
func TestServerUnitVerifies(t *testing.T) {
	shipped, err := os.ReadFile(filepath.Join("..", "..", "deploy", "patchbay-server.service"))
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, err := run(t, "server", "unit")
	if err != nil || out != string(shipped) {
		t.Fatalf("`patchbay server unit` does not print deploy/patchbay-server.service (err %v %s)", err, errOut)
	}
	for _, want := range []string{"User=patchbay", "StateDirectory=patchbay", "ProtectSystem=strict", "NoNewPrivileges=yes",
		"ExecStart=/usr/bin/patchbay server --config /etc/patchbay/server.yaml", "KillSignal=SIGTERM"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("the unit lacks %q", want)
		}
	}
	testenv.NeedTools(t, "apt-get install -y systemd", "systemd-analyze")
	unit := filepath.Join(t.TempDir(), "patchbay-server.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(out, "/usr/bin/patchbay", binary)), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(res))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, res)
	}
}

// TestServerFromConfigFileLogsJSONAndStopsOnSIGTERM: a server started with
// --config logs one JSON object a line as the file asks, and on SIGTERM
// says it stops, waits for its work and exits 0.
func TestServerFromConfigFileLogsJSONAndStopsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "server.yaml")
	os.WriteFile(conf, []byte("log-format: json\nfeed-source: []\ncheckin-interval: 5s\ndata-dir: "+filepath.Join(dir, "data")+"\n"), 0o600)
	cmd := exec.Command(binary, "server", "--config", conf, "--listen", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	started := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := bannerURL.FindStringSubmatch(sc.Text()); m != nil {
				started <- m[1]
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not start:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "ca.crt")); err != nil {
		t.Errorf("the data dir of the config file was not used: %v", err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("server after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not stop on SIGTERM:\n%s", stderr.String())
	}
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Level == "" {
			t.Errorf("log line is not a JSON record: %q", line)
			continue
		}
		msgs = append(msgs, rec.Msg)
	}
	for _, want := range []string{"server started", "server stopped"} {
		found := false
		for _, m := range msgs {
			found = found || m == want
		}
		if !found {
			t.Errorf("no %q record in the log: %q", want, msgs)
		}
	}
}
