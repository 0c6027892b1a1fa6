package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/internal/pki"
	"github.com/patchbay/patchbay/internal/testenv"
)

// Whoever can change the hooks file runs commands as the agent: a file
// owned by another user is refused, whatever its mode.
func TestLoadHooksRefusesAFileOwnedByAnotherUser(t *testing.T) {
	testenv.NeedRoot(t, "planting a hooks file owned by another user needs chown")
	path := writeHooksFile(t, []byte(`{"backup": ["/bin/true"]}`))
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := LoadHooks(path)
	if err == nil || !strings.Contains(err.Error(), "owned by uid 65534") || !strings.Contains(err.Error(), "chown root") {
		t.Fatalf("LoadHooks of a file owned by uid 65534 = %v, want a refusal naming the owner and the fix", err)
	}
	// Owned by root (the agent's own user here), it is used.
	if err := os.Chown(path, 0, 0); err != nil {
		t.Fatal(err)
	}
	if h, err := LoadHooks(path); err != nil || len(h) != 1 {
		t.Fatalf("LoadHooks of a root-owned file = %v, %v", h, err)
	}
}

func TestHooksOwnerMayBeRootOrTheAgentsUser(t *testing.T) {
	for _, tt := range []struct {
		owner, agent int
		ok           bool
	}{
		{0, 0, true},         // root's file, agent as root
		{0, 1000, true},      // root's file, agent as an unprivileged user
		{1000, 1000, true},   // the agent's own file
		{65534, 0, false},    // another user's file, agent as root
		{65534, 1000, false}, // another user's file, agent unprivileged
		{1000, 0, false},     // a user's file, agent as root
	} {
		if got := hooksOwnerOK(tt.owner, tt.agent); got != tt.ok {
			t.Errorf("hooksOwnerOK(owner %d, agent %d) = %v, want %v", tt.owner, tt.agent, got, tt.ok)
		}
	}
}

// The state directory pins the server's CA and job key: a directory others
// can write, or a state file another user owns, is refused.
func TestAgentStateOthersCouldChangeIsRefused(t *testing.T) {
	saved := func(t *testing.T) DirState {
		t.Helper()
		key, err := pki.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		d := DirState{Dir: t.TempDir()}
		if err := d.Save(&State{HostID: "h1", Key: key, CertPEM: []byte("cert"), CAPEM: []byte("ca"), JobKey: "k"}); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Load(); err != nil {
			t.Fatalf("Load of the agent's own state: %v", err)
		}
		return d
	}
	t.Run("a directory others can write", func(t *testing.T) {
		d := saved(t)
		if err := os.Chmod(d.Dir, 0o777); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Load(); err == nil || !strings.Contains(err.Error(), "chmod go-w "+d.Dir) {
			t.Fatalf("Load = %v, want a refusal saying to run chmod go-w", err)
		}
	})
	t.Run("state.json owned by another user", func(t *testing.T) {
		testenv.NeedRoot(t, "planting a state file owned by another user needs chown")
		d := saved(t)
		if err := os.Chown(filepath.Join(d.Dir, "state.json"), 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Load(); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Fatalf("Load = %v, want a refusal naming the owner", err)
		}
	})
	t.Run("a key others can read", func(t *testing.T) {
		d := saved(t)
		if err := os.Chmod(filepath.Join(d.Dir, "key.pem"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Load(); err == nil || !strings.Contains(err.Error(), "key.pem") {
			t.Fatalf("Load = %v, want a refusal naming key.pem", err)
		}
	})
}
