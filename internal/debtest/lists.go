package debtest

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// RefreshLists runs apt-get update in an image root, as the host's own
// schedule (apt-daily) would, so that the agent's available updates (read
// from the lists, which it never refreshes itself) list the repository's
// versions.
func RefreshLists(t testing.TB, root string) {
	t.Helper()
	cmd := exec.Command("apt-get", "-o", "Dir="+root, "-o", "Dir::State::status="+filepath.Join(root, "var/lib/dpkg/status"),
		"-o", "APT::Sandbox::User=root", "update")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("apt-get update in %s: %v\n%s", root, err, out)
	}
}
