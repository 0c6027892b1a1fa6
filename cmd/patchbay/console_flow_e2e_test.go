package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/inventory"
	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/sim"
)

// TestConsoleChangeFlowAgainstTheRealServer takes a change through its
// whole life in the console of a real server process, in headless
// Chromium, with four people: the operator finds a host and a finding,
// creates a change from the finding, the approver approves it, the
// operator starts it, watches the waves progress (canary ring first),
// halts and resumes it; the simulated agents (the real agent code) run the
// signed jobs; the stakeholder signs off one group and reports a problem
// with the other; the admin reads the audit trail.
func TestConsoleChangeFlowAgainstTheRealServer(t *testing.T) {
	b := newBrowser(t, 150*time.Second)
	sp := startServerProc(t, "server", "--feed-source", "none", "--engine-interval", "100ms", "--checkin-interval", "1s")
	ca := filepath.Join(sp.dataDir, "ca.crt")
	pw := map[string]string{}
	for user, role := range map[string]string{"carol": "operator", "bob": "approver", "sam": "stakeholder"} {
		pw[user] = strings.TrimSpace(sp.mustCLI(t, "users", "create", user, "--role", role))
	}
	admin := sp.adminPassword(t)
	pw["admin"] = admin
	work := t.TempDir()
	orgFile := filepath.Join(work, "org.yaml")
	os.WriteFile(orgFile, []byte(`teams: [{name: web, members: [{user: carol, role: operator}, {user: bob, role: approver}, {user: sam, role: stakeholder}]}]
groups:
  - {name: canary, team: web, selector: {labels: {tier: canary}}, stakeholder: sam, sysadmin: carol, criticality: 2, exposure: internal, ring: test}
  - {name: web, team: web, selector: {labels: {tier: web}}, stakeholder: sam, sysadmin: carol, criticality: 3, exposure: internet, ring: production}
rings: [test, production]
`), 0o644)
	sp.mustCLI(t, "apply", "-f", orgFile)
	adv := filepath.Join(work, "PBTEST-2026-0100.json")
	os.WriteFile(adv, []byte(`{"id":"PBTEST-2026-0100","modified":"2026-11-01T00:00:00Z","published":"2026-11-01T00:00:00Z",
"summary":"pbtest-hello: remote crash","affected":[{"package":{"ecosystem":"Debian:12","name":"pbtest-hello"},
"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.1-1"}]}]}]}`), 0o644)
	sp.mustCLI(t, "feeds", "import", adv)

	// Six simulated hosts: two canaries and four web servers, each with
	// pbtest-hello 1.0-1. They check in every 700 ms and run their jobs.
	var mu sync.Mutex
	installs := map[string][]protocol.JobPackage{}
	ctx, cancel := context.WithCancel(context.Background())
	var simWG sync.WaitGroup
	t.Cleanup(func() { cancel(); simWG.Wait() })
	for _, fleet := range []struct {
		tier  string
		hosts int
	}{{"canary", 2}, {"web", 4}} {
		base := sim.Base{Name: fleet.tier, OS: inventory.OS{ID: "debian", VersionID: "12"}, Format: inventory.FormatDpkg,
			Packages: []inventory.Package{{Name: "pbtest-hello", Version: "1.0-1", Arch: "amd64"}}}
		token := sp.enrollToken(t, "--label", "tier="+fleet.tier, "--max-hosts", fmt.Sprint(fleet.hosts))
		simWG.Add(1)
		go func() {
			defer simWG.Done()
			sim.Run(ctx, sim.Config{Server: sp.url, EnrollToken: token, CAFile: ca, Hosts: fleet.hosts, Packages: 1,
				Interval: 700 * time.Millisecond, Duration: 10 * time.Minute, Concurrency: 2, Bases: []sim.Base{base}, Seed: 3, Jobs: true,
				OnInstall: func(host string, pkgs []protocol.JobPackage) {
					mu.Lock()
					installs[host] = append(installs[host], pkgs...)
					mu.Unlock()
				}})
		}()
	}
	waitFor(t, func() bool { return len(findingsOf(sp.findings(t), "PBTEST-2026-0100")) == 6 }, "six open findings")

	// The operator finds a web server and opens the finding.
	b.signIn(sp.url, "carol", pw["carol"])
	b.Screenshot("real-dashboard")
	b.Run("search hosts", chromedp.Click(chromedp.CSS(`nav a[href="/hosts"]`)), chromedp.WaitVisible(chromedp.ID("q")),
		chromedp.SendKeys(chromedp.ID("q"), "sim-web-00002"), chromedp.Click(chromedp.CSS(`form.filters button[type=submit]`)))
	b.WaitText("#host-total", "1 host match", 5*time.Second)
	b.Run("open the host", chromedp.Click(chromedp.CSS(`#hosts a[href^="/hosts/"]`)), chromedp.WaitVisible(chromedp.ID("hostname")))
	if got := b.Text("#hostname"); got != "sim-web-00002" {
		t.Errorf("host page shows %q", got)
	}
	if got := b.Text("main"); !strings.Contains(got, "pbtest-hello") || !strings.Contains(got, "PBTEST-2026-0100") {
		t.Errorf("the host page lacks its package or finding:\n%.800s", got)
	}
	b.Screenshot("real-host-detail")
	b.Run("open the findings", chromedp.Navigate(sp.url+"/vulns"), chromedp.WaitVisible(chromedp.ID("findings")),
		chromedp.Click(chromedp.CSS(`#findings tbody tr:first-child details summary`)),
		chromedp.WaitVisible(chromedp.CSS(`#findings tbody tr:first-child details li`)))
	if got := b.Text(`#findings tbody tr:first-child details`); !strings.Contains(got, "EPSS") {
		t.Errorf("the finding's reasons read %q", got)
	}
	b.Screenshot("real-vulns")

	// The operator creates a change from the selected finding.
	b.Run("select the finding and open the form",
		chromedp.Click(chromedp.CSS(`#findings tbody tr:first-child input[name=advisory]`)),
		chromedp.Click(chromedp.ID("create-change")), chromedp.WaitVisible(chromedp.ID("title")))
	if got := b.Text("#advisories"); !strings.Contains(got, "PBTEST-2026-0100") {
		t.Errorf("the create form lists %q", got)
	}
	b.Run("fill in the form",
		chromedp.SetValue(chromedp.ID("title"), "pbtest-hello 1.1 on web"),
		chromedp.Click(chromedp.ID("group-0")), chromedp.Click(chromedp.ID("group-1")),
		chromedp.SetValue(chromedp.ID("batch_size"), "1"), chromedp.SetValue(chromedp.ID("failure_budget"), "0"),
		chromedp.SetValue(chromedp.ID("soak"), "12s"),
		chromedp.Click(chromedp.ID("ignore_windows")),
		// The simulated hosts report no repositories, so no host is
		// offered 1.1-1: the operator plans it anyway, deliberately.
		chromedp.Click(chromedp.ID("force_not_offered")))
	b.Screenshot("real-change-new")
	b.Run("create", chromedp.Click(chromedp.ID("create")))
	b.WaitText(".notice", "Change created", 10*time.Second)
	if got := b.Text("#change-state"); got != "pending approval" {
		t.Errorf("the new change is %q, want pending approval", got)
	}
	if got := b.Text("#plan-hosts"); !strings.Contains(got, "sim-web-00002") || !strings.Contains(got, "forced: the repositories do not offer pbtest-hello 1.1-1") {
		t.Errorf("the plan's hosts read %q, want every host by name, forced", got)
	}
	if got := b.Text("#change-groups"); got != "canary, web" {
		t.Errorf("the new change targets %q", got)
	}
	if got := b.Text("#plan"); !strings.Contains(got, "test → production") || !strings.Contains(got, "1 host") || !strings.Contains(got, "12s") ||
		!strings.Contains(got, "ignored") {
		t.Errorf("the plan reads %q", got)
	}
	if got := b.Text(`section[aria-labelledby="ring-1"] tr[data-host-id] .targets`); got != "pbtest-hello 1.1-1" {
		t.Errorf("a production host installs %q, want pbtest-hello 1.1-1", got)
	}
	if n := b.Eval(`document.querySelectorAll('#action-approve').length`); n != 0 {
		t.Errorf("the author is offered approval of her own change")
	}
	loc, err := chromedp.Run(b.Ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	changeURL := strings.SplitN(loc, "?", 2)[0]
	changeID := changeURL[strings.LastIndex(changeURL, "/")+1:]
	b.Screenshot("real-change-created")

	// The approver approves.
	b.signIn(sp.url, "bob", pw["bob"])
	b.Run("approve", chromedp.Navigate(changeURL), chromedp.Click(chromedp.ID("action-approve")))
	b.WaitText("#change-state", "approved", 10*time.Second)
	if got := b.Text("#approved-by"); got != "bob" {
		t.Errorf("approved by %q", got)
	}
	b.Screenshot("real-change-approved")

	// The operator starts it and watches the waves: no production host
	// moves before every canary succeeded.
	b.signIn(sp.url, "carol", pw["carol"])
	b.Run("start", chromedp.Navigate(changeURL), chromedp.Click(chromedp.ID("action-start")))
	b.WaitText("#change-state", "running", 10*time.Second)
	const count = `[...document.querySelectorAll('section[aria-labelledby="ring-%d"] tr[data-host-id] .status')].filter(e => %s).length`
	succeeded := func(ring int) int { return b.Eval(fmt.Sprintf(count, ring, `e.textContent.includes("succeeded")`)) }
	moved := func(ring int) int { return b.Eval(fmt.Sprintf(count, ring, `!/pending|planned/.test(e.textContent)`)) }
	watch := func(until func() bool, what string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !until() {
			if moved(1) > 0 && succeeded(0) < 2 {
				t.Fatalf("a production host moved while %d of 2 canaries had succeeded", succeeded(0))
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after %v; the page reads:\n%s", what, within, b.Text("#change"))
			}
			time.Sleep(150 * time.Millisecond)
		}
	}
	watch(func() bool { return succeeded(0) == 2 }, "both canaries succeed", 40*time.Second)
	b.Screenshot("real-change-canaries-done")
	// The canary ring soaks for 12 s; the operator halts the change then.
	if n := moved(1); n != 0 {
		t.Fatalf("%d production hosts moved before the canary ring's soak ended; the page reads:\n%s", n, b.Text("#change"))
	}
	b.Run("halt", chromedp.Click(chromedp.ID("action-halt")))
	b.WaitText("#change-state", "halted", 10*time.Second)
	b.Screenshot("real-change-halted")
	// Wait for the events that would have moved production had the halt
	// not held: the canary soak's end, then a check-in of every host after
	// it (each check-in is where a dispatched job would be handed out).
	soakEnd := time.Now().Add(12 * time.Second)
	waitForWithin(t, 60*time.Second, func() bool {
		if time.Now().Before(soakEnd) {
			return false
		}
		hs := sp.hosts(t)
		for _, h := range hs {
			if !h.LastSeenAt.After(soakEnd) {
				return false
			}
		}
		return len(hs) == 6
	}, "every host checked in after the canary soak ended")
	b.Run("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("change-state")))
	if got := moved(1); got != 0 {
		t.Errorf("%d production hosts moved while the change was halted", got)
	}
	if got := b.Text("#change-state"); got != "halted" {
		t.Errorf("the halted change is %q", got)
	}
	b.Run("resume", chromedp.Click(chromedp.ID("action-resume")))
	b.WaitText("#change-state", "running", 10*time.Second)
	b.Screenshot("real-change-resumed")
	watch(func() bool { return succeeded(1) == 4 }, "every production host succeeds", 60*time.Second)
	b.WaitText("#change-state", "awaiting signoff", 30*time.Second)
	b.Screenshot("real-change-verified")
	mu.Lock()
	for host, pkgs := range installs {
		if len(pkgs) != 1 || pkgs[0].Name != "pbtest-hello" || pkgs[0].Version != "1.1-1" {
			t.Errorf("%s installed %+v, want pbtest-hello 1.1-1 once", host, pkgs)
		}
	}
	if len(installs) != 6 {
		t.Errorf("%d hosts installed, want 6", len(installs))
	}
	mu.Unlock()
	waitFor(t, func() bool {
		return strings.Count(sp.mustCLI(t, "vulns", "list", "--status", "resolved", "-o", "json"), "by change "+changeID) == 6
	}, "the six findings resolve by the change")

	// The stakeholder signs off the canaries and reports a problem with web.
	b.signIn(sp.url, "sam", pw["sam"])
	b.Run("open the change to sign off", chromedp.Navigate(changeURL), chromedp.WaitVisible(chromedp.ID("signoff-ok-0")))
	b.Screenshot("real-change-signoff")
	b.Run("sign off canary", chromedp.Click(chromedp.ID("signoff-ok-0")))
	b.WaitText(".notice", "Sign-off recorded.", 10*time.Second)
	b.Run("report a problem with web",
		chromedp.SendKeys(chromedp.ID("problem-1"), "<b>login page</b> is slow since the update"),
		chromedp.Click(chromedp.ID("signoff-problem-1")))
	b.WaitText("#change-state", "completed", 10*time.Second)
	if got := b.Text("#signoffs"); !strings.Contains(got, "systems work") || !strings.Contains(got, "<b>login page</b> is slow") {
		t.Errorf("the sign-offs read %q", got)
	}
	b.Screenshot("real-change-signed-off")
	var kb []struct {
		Status  string
		Changes []string
	}
	json.Unmarshal([]byte(sp.mustCLI(t, "kb", "list", "-o", "json")), &kb)
	if len(kb) != 1 || kb[0].Status != "draft" || len(kb[0].Changes) != 1 || kb[0].Changes[0] != changeID {
		t.Errorf("the problem report opened no knowledge-base draft linked to the change: %+v", kb)
	}

	// The next change touching pbtest-hello shows the problem to its approver.
	var next struct{ ID string }
	json.Unmarshal([]byte(sp.mustCLI(t, "changes", "create", "pbtest-hello back to 1.0", "--group", "web", "--package", "pbtest-hello@1.0-1",
		"--allow-downgrade", "--ignore-windows", "-o", "json")), &next)
	b.signIn(sp.url, "bob", pw["bob"])
	b.Run("open the next change", chromedp.Navigate(sp.url+"/changes/"+next.ID), chromedp.WaitVisible(chromedp.ID("plan")))
	if got := b.Text("#known-problems"); !strings.Contains(got, "<b>login page</b> is slow since the update") {
		t.Errorf("the next change's plan does not show the known problem: %q", got)
	}
	if got := b.Text("#plan-hosts"); !strings.Contains(got, "downgrade from 1.1-1, allowed") {
		t.Errorf("the next change's hosts do not say they are downgraded: %q", got)
	}
	b.Screenshot("real-change-known-problem")

	// The admin reads who did what in the audit trail.
	b.signIn(sp.url, "admin", pw["admin"])
	b.Run("read the audit log", chromedp.Click(chromedp.CSS(`nav a[href="/audit"]`)), chromedp.WaitVisible(chromedp.ID("audit")))
	audit := b.Text("#audit")
	for _, want := range []string{"console change.create", "console change.approve", "console change.start", "console change.halt",
		"console change.resume", "console change.signoff", "carol", "bob", "sam"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit log lacks %q", want)
		}
	}
	b.Screenshot("real-audit")
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("the browser reported: %q", p)
	}
}

// findingsOf returns the findings of one advisory.
func findingsOf(fs []api.Finding, advisory string) []api.Finding {
	var out []api.Finding
	for _, f := range fs {
		if f.AdvisoryID == advisory {
			out = append(out, f)
		}
	}
	return out
}
