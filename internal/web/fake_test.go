package web

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/policy"
)

// Hostile strings an agent might report; they must render as text.
const (
	xssHostname  = `<script>alert(1)</script>`
	csvFormula   = `=cmd|' /C calc'!A0`
	fakePassword = "correct horse battery staple"
)

// fakeBackend is an in-memory Backend for the console's tests.
type fakeBackend struct {
	now func() time.Time

	mu       sync.Mutex
	users    map[string]User // by username
	hosts    []Host
	packages map[string][]Package
	findings []Finding // ranked
	changes  []Change
	audit    []AuditEntry // oldest first
	groups   []fakeGroup
	created  []ChangeRequest // what CreateChange was asked, in order
	// createErr, when set, is what CreateChange returns.
	createErr error
	admin     fakeAdmin  // settings, reports and dashboard state: fake_admin_test.go
	org       fakeOrg    // groups, calendar, exceptions and knowledge base: fake_org_test.go
	notify    fakeNotify // the delivery log: fake_notify_test.go
}

// fakeGroup is a named set of hosts a change may target.
type fakeGroup struct {
	name  string
	hosts []string
}

// hostileGroup is a group name with markup in it; it must render as text.
const hostileGroup = `lab <script>alert(5)</script>`

// fakeUsers are the fake's users, one a role, each named after its role;
// their IDs (u1, u2, ...) follow this order. Their permissions are the
// server's own role model, policy.RoleAllows.
var fakeUsers = []string{policy.RoleAdmin, policy.RoleApprover, policy.RoleOperator, policy.RoleAuditor, policy.RoleStakeholder, policy.RoleSecurity}

func newFakeBackend(t testing.TB, now func() time.Time) *fakeBackend {
	t.Helper()
	f := &fakeBackend{now: now, users: map[string]User{}, packages: map[string][]Package{}}
	for i, name := range fakeUsers {
		f.users[name] = User{ID: "u" + strconv.Itoa(i+1), Username: name, Role: name}
	}
	seen := now().Add(-5 * time.Minute)
	f.hosts = []Host{
		{ID: "h1", Hostname: "web-01.example.net", OS: "debian", OSVersion: "12", Kernel: "6.1.0-18-amd64", Arch: "amd64",
			Addresses: []string{"192.0.2.10"}, AgentVersion: "0.1.0", Owner: "web team", Criticality: "high", LastSeen: seen},
		{ID: "h2", Hostname: "db-01.example.net", OS: "debian", OSVersion: "12", Kernel: "6.1.0-18-amd64", Arch: "amd64",
			Addresses: []string{"192.0.2.20"}, AgentVersion: "0.1.0", Owner: "data team", Criticality: "critical", LastSeen: seen},
		{ID: "h3", Hostname: xssHostname, OS: "alpine", OSVersion: "3.20", Kernel: csvFormula, Arch: "x86_64",
			Addresses: []string{"192.0.2.66"}, AgentVersion: `"><img src=x onerror=alert(2)>`, Owner: "unknown",
			LastSeen: now().Add(-72 * time.Hour), Stale: true},
	}
	debPkgs := readDpkgStatus(t, "testdata/osv-scalibr-valid.status")
	f.packages["h1"] = debPkgs
	f.packages["h2"] = debPkgs
	f.packages["h3"] = []Package{{Name: "musl", Version: csvFormula, Arch: "x86_64", Ecosystem: "Alpine"},
		{Name: `<b>bold</b>`, Version: "1.0-r0", Arch: "x86_64", Source: `javascript:alert(3)`, Ecosystem: "Alpine"}}
	f.findings = []Finding{
		{ID: "f1", AdvisoryID: "CVE-2024-3094", Summary: "xz backdoor", HostID: "h2", Hostname: "db-01.example.net",
			Package: "acl", InstalledVersion: "2.3.1-3", FixedVersion: "2.3.1-4", Severity: "critical", Priority: 97, KEV: true,
			EPSS: 0.94, SSVC: "Act", Due: now().Add(48 * time.Hour),
			Reasons: []string{"CVSS 10.0 critical: +40", "in CISA KEV: +30", "host criticality critical: +15"}},
		{ID: "f2", AdvisoryID: "CVE-2023-4911", Summary: "glibc Looney Tunables", HostID: "h1", Hostname: "web-01.example.net",
			Package: "accountsservice", InstalledVersion: "22.08.8-6", FixedVersion: "22.08.8-7", Severity: "high", Priority: 81,
			EPSS: 0.61, SSVC: "Attend", Due: now().Add(7 * 24 * time.Hour),
			Reasons: []string{"CVSS 7.8 high: +30", "EPSS 61%: +20"}},
		{ID: "f3", AdvisoryID: "CVE-2025-0001", Summary: xssHostname, HostID: "h3", Hostname: xssHostname,
			Package: "musl", InstalledVersion: csvFormula, Severity: "medium", Priority: 40, EPSS: 0.01,
			Reasons: []string{"distro severity medium: +20", csvFormula}},
	}
	for i := range f.hosts {
		f.hosts[i].Packages = len(f.packages[f.hosts[i].ID])
		for _, fd := range f.findings {
			if fd.HostID == f.hosts[i].ID {
				f.hosts[i].Findings++
			}
		}
	}
	f.groups = []fakeGroup{{"web", []string{"h1"}}, {"databases", []string{"h2"}}, {hostileGroup, []string{"h3"}}}
	f.changes = []Change{{ID: "c1", Title: "Patch xz on databases", State: "pending_approval", Author: "operator",
		Created: now().Add(-time.Hour), Groups: []string{"web", "databases", hostileGroup},
		Hosts: []ChangeHost{
			{HostID: "h1", Hostname: "web-01.example.net", Ring: 0, Status: "pending", Group: "web", Targets: []string{"xz-utils 5.4.1-0.2"}},
			{HostID: "h3", Hostname: xssHostname, Ring: 0, Status: "pending", Detail: csvFormula, Group: hostileGroup,
				Targets: []string{"xz-utils " + csvFormula}, AfterPatch: "restart " + xssHostname},
			{HostID: "h2", Hostname: "db-01.example.net", Ring: 1, Status: "pending", Group: "databases",
				Targets: []string{"xz-utils 5.4.1-0.2", "liblzma5 5.4.1-0.2"}, AfterPatch: "reboot"},
		},
		Plan: &ChangePlan{Rings: []string{"pilot", "production"}, Batch: "1 host", FailureBudget: "0 hosts", Soak: 30 * time.Minute,
			JobTimeout: 30 * time.Minute, Windows: []UpcomingWindow{{Group: "databases", Start: now().Add(24 * time.Hour), End: now().Add(28 * time.Hour)}},
			KnownProblems: []KnownProblem{{ID: "k1", Title: "xz: " + xssHostname, Problem: "replication lag " + csvFormula, Status: "published"}},
			Review: []PlanReviewHost{
				{HostID: "h2", Hostname: "db-01.example.net", Group: "databases", Ring: "production", Tier: "replicas", Status: "planned",
					Targets: []string{"xz-utils 5.4.1-0.2", "liblzma5 5.4.1-0.2"}},
				{HostID: "h4", Hostname: "db-02.example.net", Group: "databases", Ring: "production", Status: "downgrade-refused",
					Reason: "xz-utils 5.4.1-0.2 is lower than the installed 5.6.1-1; a downgrade needs allow-downgrade", Targets: []string{"xz-utils 5.4.1-0.2"}},
				{HostID: "h3", Hostname: xssHostname, Group: hostileGroup, Ring: "pilot", Status: "excluded",
					Reason: `package architecture "amd64 --force-all" of xz-utils is not a known architecture ` + xssHostname, Targets: []string{"xz-utils 5.4.1-0.2"}},
			}},
	}}
	f.changes[0].Actions = changeStateActions(f.changes[0].State)
	return f
}

// readDpkgStatus reads names, versions and architectures from a real dpkg
// status file.
func readDpkgStatus(t testing.TB, path string) []Package {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var pkgs []Package
	var p Package
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if p.Name != "" {
				pkgs = append(pkgs, p)
			}
			p = Package{}
		case strings.HasPrefix(line, "Package: "):
			p.Name, p.Ecosystem = strings.TrimPrefix(line, "Package: "), "Debian"
		case strings.HasPrefix(line, "Version: "):
			p.Version = strings.TrimPrefix(line, "Version: ")
		case strings.HasPrefix(line, "Architecture: "):
			p.Arch = strings.TrimPrefix(line, "Architecture: ")
		case strings.HasPrefix(line, "Source: "):
			p.Source = strings.TrimPrefix(line, "Source: ")
		}
	}
	if p.Name != "" {
		pkgs = append(pkgs, p)
	}
	if err := sc.Err(); err != nil || len(pkgs) == 0 {
		t.Fatalf("read %s: %v, %d packages", path, err, len(pkgs))
	}
	return pkgs
}

func changeStateActions(state string) []string {
	switch state {
	case "draft":
		return []string{"submit"}
	case "pending_approval":
		return []string{"approve", "reject"}
	case "approved":
		return []string{"start"}
	case "running":
		return []string{"halt", "rollback"}
	case "halted":
		return []string{"resume", "rollback"}
	}
	return nil
}

func (f *fakeBackend) Authenticate(ctx context.Context, username, password string) (User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[username]
	if !ok || password != f.admin.password(username) {
		return User{}, ErrBadLogin
	}
	return u, nil
}

func (f *fakeBackend) UserByID(ctx context.Context, id string) (User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.users {
		if u.ID == id {
			return u, nil
		}
	}
	return User{}, ErrNotFound
}

func (f *fakeBackend) Allowed(u User, perm string) bool {
	return policy.RoleAllows(u.Role, policy.Permission(perm))
}

func pageOf[T any](items []T, after string, limit int) ([]T, string) {
	start, _ := strconv.Atoi(after)
	if start > len(items) {
		start = len(items)
	}
	end := min(start+limit, len(items))
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	return items[start:end], next
}

func (f *fakeBackend) Hosts(ctx context.Context, q HostQuery) ([]Host, string, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Host
	for _, h := range f.hosts {
		if q.Search != "" && !strings.Contains(h.Hostname, q.Search) && !slices.Contains(h.Addresses, q.Search) {
			continue
		}
		if q.OS != "" && h.OS != q.OS {
			continue
		}
		if q.Stale != nil && h.Stale != *q.Stale {
			continue
		}
		out = append(out, h)
	}
	pg, next := pageOf(out, q.After, q.Limit)
	return pg, next, len(out), nil
}

func (f *fakeBackend) Host(ctx context.Context, id string) (Host, []Package, []Finding, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range f.hosts {
		if h.ID == id {
			var fs []Finding
			for _, fd := range f.findings {
				if fd.HostID == id {
					fs = append(fs, fd)
				}
			}
			return h, f.packages[id], fs, nil
		}
	}
	return Host{}, nil, nil, fmt.Errorf("host %q: %w", id, ErrNotFound)
}

func (f *fakeBackend) Findings(ctx context.Context, q FindingQuery) ([]Finding, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Finding
	for _, fd := range f.findings {
		if (q.Host != "" && fd.HostID != q.Host) || (q.Severity != "" && fd.Severity != q.Severity) || (q.KEV != nil && fd.KEV != *q.KEV) {
			continue
		}
		out = append(out, fd)
	}
	pg, next := pageOf(out, q.After, q.Limit)
	return pg, next, nil
}

func (f *fakeBackend) Changes(ctx context.Context) ([]Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.changes)
	for i := range out {
		out[i].HostCount, out[i].Hosts = len(out[i].Hosts), nil // as the server: the list has no hosts
	}
	return out, nil
}

func (f *fakeBackend) Change(ctx context.Context, id string) (Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.changes {
		if c.ID == id {
			c.Hosts = slices.Clone(c.Hosts)
			c.Groups = slices.Clone(c.Groups)
			c.SignOffs = slices.Clone(c.SignOffs)
			return c, nil
		}
	}
	return Change{}, fmt.Errorf("change %q: %w", id, ErrNotFound)
}

// ChangeActions is the state's actions: the fake has no per-user rules.
func (f *fakeBackend) ChangeActions(ctx context.Context, u User, id string) ([]string, error) {
	c, err := f.Change(ctx, id)
	return c.Actions, err
}

var nextState = map[string]string{"submit": "pending_approval", "approve": "approved", "reject": "rejected",
	"start": "running", "halt": "halted", "resume": "running", "rollback": "rolled_back", "cancel": "cancelled"}

func (f *fakeBackend) ChangeAction(ctx context.Context, u User, id, action string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.changes {
		c := &f.changes[i]
		if c.ID != id {
			continue
		}
		if !slices.Contains(c.Actions, action) {
			return fmt.Errorf("a change in state %s cannot be %sd: %w", c.State, action, ErrConflict)
		}
		c.State = nextState[action]
		c.Actions = changeStateActions(c.State)
		if action == "approve" {
			c.ApprovedBy = u.Username
		}
		f.audit = append(f.audit, AuditEntry{Time: f.now(), Actor: u.Username, Action: "change." + action, Target: id})
		return nil
	}
	return fmt.Errorf("change %q: %w", id, ErrNotFound)
}

// setHostStatus moves one host of a change along, as the rollout engine would.
func (f *fakeBackend) setHostStatus(changeID, hostID, status, detail string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.changes {
		if f.changes[i].ID != changeID {
			continue
		}
		for j := range f.changes[i].Hosts {
			if h := &f.changes[i].Hosts[j]; h.HostID == hostID {
				h.Status, h.Detail = status, detail
			}
		}
	}
}

func (f *fakeBackend) CreateChange(ctx context.Context, u User, req ChangeRequest) (string, error) {
	if !f.Allowed(u, "changes:create") {
		return "", ErrForbidden
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.createErr != nil {
		return "", f.createErr
	}
	if req.Title == "" || len(req.Advisories) == 0 || len(req.Groups) == 0 || req.BatchSize < 1 || req.FailureBudget < 0 {
		return "", fmt.Errorf("incomplete change request %+v", req)
	}
	f.created = append(f.created, req)
	ch := Change{ID: "c" + strconv.Itoa(len(f.changes)+1), Title: req.Title, State: "pending_approval",
		Author: u.Username, Created: f.now(), Groups: slices.Clone(req.Groups)}
	for _, name := range req.Groups {
		i := slices.IndexFunc(f.groups, func(g fakeGroup) bool { return g.name == name })
		if i < 0 {
			return "", fmt.Errorf("there is no group %q", name)
		}
		for _, id := range f.groups[i].hosts {
			for _, h := range f.hosts {
				if h.ID == id {
					ring := len(ch.Hosts) / req.BatchSize
					ch.Hosts = append(ch.Hosts, ChangeHost{HostID: h.ID, Hostname: h.Hostname, Ring: ring, Status: "pending"})
				}
			}
		}
	}
	ch.Actions = changeStateActions(ch.State)
	f.changes = append(f.changes, ch)
	f.audit = append(f.audit, AuditEntry{Time: f.now(), Actor: u.Username, Action: "change.create", Target: ch.ID,
		Detail: strings.Join(req.Advisories, " ")})
	return ch.ID, nil
}

func (f *fakeBackend) Groups(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for _, g := range f.groups {
		names = append(names, g.name)
	}
	return names, nil
}

func (f *fakeBackend) SignOff(ctx context.Context, u User, changeID, group string, ok bool, problem string) error {
	if !f.Allowed(u, "changes:signoff") {
		return ErrForbidden
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.changes {
		c := &f.changes[i]
		if c.ID != changeID {
			continue
		}
		switch {
		case c.State != "awaiting-signoff":
			return fmt.Errorf("a change in state %s cannot be signed off: %w", c.State, ErrConflict)
		case !slices.Contains(c.Groups, group):
			return fmt.Errorf("change %s does not target group %q", changeID, group)
		case slices.ContainsFunc(c.SignOffs, func(s SignOffView) bool { return s.Group == group }):
			return fmt.Errorf("group %s is already signed off: %w", group, ErrConflict)
		case !ok && problem == "":
			return fmt.Errorf("a problem report needs a description")
		}
		c.SignOffs = append(c.SignOffs, SignOffView{Group: group, By: u.Username, OK: ok, Problem: problem})
		if len(c.SignOffs) == len(c.Groups) {
			c.State = "done"
		}
		f.audit = append(f.audit, AuditEntry{Time: f.now(), Actor: u.Username, Action: "change.signoff", Target: changeID,
			Detail: group})
		return nil
	}
	return fmt.Errorf("change %q: %w", changeID, ErrNotFound)
}

// finishRollout completes every host of a change and leaves it awaiting
// sign-off, as the rollout engine would.
func (f *fakeBackend) finishRollout(changeID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.changes {
		c := &f.changes[i]
		if c.ID != changeID {
			continue
		}
		for j := range c.Hosts {
			c.Hosts[j].Status, c.Hosts[j].Detail = "succeeded", "patched"
		}
		c.State = "awaiting-signoff"
		c.Actions = changeStateActions(c.State)
	}
}

func (f *fakeBackend) Audit(ctx context.Context, from, limit int) ([]AuditEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []AuditEntry
	for i := len(f.audit) - 1 - from; i >= 0 && len(out) < limit; i-- {
		out = append(out, f.audit[i])
	}
	return out, nil
}

func (f *fakeBackend) Record(ctx context.Context, e AuditEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.audit = append(f.audit, e)
}

func (f *fakeBackend) recorded(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, e := range f.audit {
		if e.Action == action {
			n++
		}
	}
	return n
}

// FindingRollup groups the fake's findings by advisory, host or package.
func (f *fakeBackend) FindingRollup(ctx context.Context, q RollupQuery) ([]RollupRow, string, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var rows []RollupRow
	index := map[string]int{}
	hosts := map[string]map[string]bool{}
	for _, fd := range f.findings {
		if (q.Host != "" && fd.HostID != q.Host && fd.Hostname != q.Host) || (q.Severity != "" && fd.Severity != q.Severity) ||
			(q.KEV != nil && fd.KEV != *q.KEV) || (q.Advisory != "" && fd.AdvisoryID != q.Advisory) || (q.Package != "" && fd.Package != q.Package) {
			continue
		}
		key, label := fd.AdvisoryID, fd.AdvisoryID
		switch q.By {
		case "host":
			key, label = fd.HostID, fd.Hostname
		case "package":
			key, label = fd.Package, fd.Package
		}
		i, ok := index[key]
		if !ok {
			i = len(rows)
			index[key] = i
			rows = append(rows, RollupRow{Key: key, Label: label, Summary: fd.Summary, Severity: fd.Severity, EPSS: -1})
			hosts[key] = map[string]bool{}
		}
		r := &rows[i]
		r.Findings++
		r.Priority = max(r.Priority, fd.Priority)
		if fd.KEV {
			r.KEV++
		}
		hosts[key][fd.HostID] = true
		r.Hosts = len(hosts[key])
	}
	return rows, "", len(rows), nil
}

// CountFindings counts what Findings would list on every page.
func (f *fakeBackend) CountFindings(ctx context.Context, q FindingQuery) (int, error) {
	q.Limit, q.After = 1_000_000, ""
	fs, _, err := f.Findings(ctx, q)
	return len(fs), err
}
