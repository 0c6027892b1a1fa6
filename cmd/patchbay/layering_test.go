package main

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const modulePath = "github.com/patchbay/patchbay/"

// allowedInternal is the layering of docs/architecture.md written out by
// hand: for each package, the internal packages it may import (its own
// non-test files only). A package missing from this table fails the test,
// so a new package is placed in the layering when it is added.
var allowedInternal = map[string][]string{
	"cmd/patchbay": nil, // wiring: may import everything (checked separately)
	"deploy":       {},  // the server unit and example config, embedded
	// The lean agent binary: only the agent's command line.
	"cmd/patchbay-agent": {"internal/agentcmd"},

	// Pure logic: values and a clock in, decisions out.
	"internal/version":  {},
	"internal/risk":     {},
	"internal/fielderr": {},
	"internal/policy":   {"internal/fielderr"},
	"internal/schedule": {"internal/fielderr"},
	"internal/rollout":  {"internal/fielderr"},
	"internal/metrics":  {},
	"internal/audit":    {},
	"internal/notify":   {"internal/policy", "internal/fielderr", "internal/schedule"},
	"internal/match":    {"internal/advisory", "internal/version"},
	"internal/change":   {"internal/rollout", "internal/policy", "internal/schedule", "internal/version", "internal/advisory", "internal/match", "internal/risk"},

	// Readers and wire types.
	"internal/inventory": {},
	"internal/advisory":  {"internal/version"},
	"internal/protocol":  {"internal/inventory", "internal/fielderr"},
	"internal/api":       {"internal/inventory"},
	"internal/pki":       {"internal/durable"},
	"internal/durable":   {},
	"internal/backup":    {},

	// Edges.
	"internal/pkgmgr":    {"internal/inventory"},
	"internal/agent":     {"internal/inventory", "internal/pkgmgr", "internal/protocol", "internal/pki", "internal/durable"},
	"internal/agentcmd":  {"internal/agent", "internal/inventory", "internal/pkgmgr", "internal/protocol", "internal/release", "internal/durable"},
	"internal/packaging": {"internal/agent", "internal/protocol", "internal/release"},
	"internal/release":   {"internal/durable"},
	"internal/client":    {"internal/api"},
	"internal/scan":      {"internal/advisory", "internal/inventory", "internal/match", "internal/risk", "internal/version", "internal/durable"},
	"internal/sim":       {"internal/agent", "internal/inventory", "internal/protocol", "internal/pki"},
	"internal/store":     {"internal/inventory", "internal/match", "internal/audit", "internal/advisory", "internal/version", "internal/rollout", "internal/policy", "internal/risk", "internal/metrics", "internal/change"},
	"internal/web":       {"internal/api", "internal/metrics", "internal/policy", "internal/schedule", "internal/rollout", "internal/change"},
	// Notifications: the outbox worker, channels and the SSRF-safe client.
	"internal/delivery": {"internal/notify", "internal/policy", "internal/store"},
	"internal/server": {
		"internal/advisory", "internal/api", "internal/audit", "internal/backup", "internal/change", "internal/durable", "internal/fielderr", "internal/inventory", "internal/match",
		"internal/metrics", "internal/pki", "internal/policy", "internal/protocol", "internal/risk", "internal/rollout",
		"internal/schedule", "internal/store", "internal/version", "internal/web", "internal/notify", "internal/delivery", "internal/release",
	},

	// Test support.
	"internal/testenv":         {},
	"internal/golden":          {},
	"internal/debtest":         {},
	"internal/rpmtest":         {"internal/debtest", "internal/testenv"},
	"internal/browsertest":     {"internal/testenv"},
	"internal/store/storetest": {"internal/inventory", "internal/store"},
}

// pure packages do no I/O: none of these standard packages may appear in
// their imports.
var pure = []string{"internal/fielderr", "internal/version", "internal/risk", "internal/policy", "internal/schedule", "internal/rollout", "internal/metrics", "internal/match", "internal/change", "internal/audit", "internal/notify"}

var ioImports = []string{"os", "os/exec", "net", "net/http", "database/sql", "io/fs", "path/filepath", "syscall", "golang.org/x/sys/unix", "log/slog"}

type listedPackage struct {
	ImportPath string
	Doc        string
	Imports    []string
	Deps       []string
}

func goList(t *testing.T, args ...string) []listedPackage {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the go command is needed to read the import graph: %v", err)
	}
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []listedPackage
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		p.ImportPath = strings.TrimPrefix(p.ImportPath, modulePath)
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages; the test is not reading the module", len(pkgs))
	}
	return pkgs
}

// TestImportsFollowTheLayering fails when a package imports an internal
// package the layering does not allow, when a pure package imports an I/O
// package, or when a package is not placed in the layering at all.
func TestImportsFollowTheLayering(t *testing.T) {
	for _, p := range goList(t, "./...") {
		allowed, known := allowedInternal[p.ImportPath]
		if !known {
			t.Errorf("%s is not in the layering table of layering_test.go: add it with the internal packages it may import", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if p.ImportPath != "cmd/patchbay" && strings.HasPrefix(imp, modulePath) {
				rel := strings.TrimPrefix(imp, modulePath)
				if !slices.Contains(allowed, rel) {
					t.Errorf("%s imports %s, which the layering does not allow (allowed: %v)", p.ImportPath, rel, allowed)
				}
			}
			if slices.Contains(pure, p.ImportPath) && slices.Contains(ioImports, imp) {
				t.Errorf("%s is pure logic but imports %s", p.ImportPath, imp)
			}
		}
	}
}

// TestAgentAndStoreStayApart checks the transitive rules: the agent side
// never reaches the server, the store or the console, and the store never
// reaches the server.
func TestAgentAndStoreStayApart(t *testing.T) {
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		{"internal/agent", []string{"internal/store", "internal/server", "internal/web", "database/sql", "github.com/prometheus/client_golang/prometheus"}},
		{"internal/pkgmgr", []string{"internal/store", "internal/server", "internal/web", "database/sql"}},
		{"internal/inventory", []string{"internal/store", "internal/server", "internal/web", "database/sql", "net/http"}},
		{"internal/store", []string{"internal/server", "internal/web", "net/http"}},
		{"internal/web", []string{"internal/server", "internal/store", "database/sql"}},
	}
	for _, r := range rules {
		deps := goList(t, "-deps", "./"+r.pkg)
		for _, d := range deps {
			name := strings.TrimPrefix(d.ImportPath, modulePath)
			if slices.Contains(r.forbidden, name) {
				t.Errorf("%s depends (directly or not) on %s", r.pkg, name)
			}
		}
	}
}

// TestEveryPackageHasADocComment keeps the one-doc-comment-per-package rule.
func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range goList(t, "./...") {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("%s has no package doc comment: add a doc.go saying what it is for", p.ImportPath)
			continue
		}
		first := strings.Fields(p.Doc)
		if !strings.HasPrefix(p.ImportPath, "cmd/") && (len(first) < 2 || first[0] != "Package") {
			t.Errorf("%s: package doc should start with \"Package <name>\", got %q", p.ImportPath, p.Doc)
		}
	}
}

// leanAgentForbidden are the packages the lean agent binary must not carry:
// the server side, SQL and its drivers, and Prometheus. Each is matched as
// an import path prefix.
var leanAgentForbidden = []string{
	modulePath + "internal/store", modulePath + "internal/server", modulePath + "internal/web",
	modulePath + "internal/metrics", modulePath + "internal/scan", modulePath + "internal/sim",
	modulePath + "internal/packaging",
	"database/sql", "modernc.org/sqlite", "github.com/jackc/pgx", "github.com/lib/pq", "github.com/mattn/go-sqlite3",
	"github.com/pressly/goose", "github.com/prometheus/", "github.com/goreleaser/nfpm",
}

// TestLeanAgentCarriesNoServerCode keeps cmd/patchbay-agent lean: the
// transitive dependencies of the binary (go list -deps) hold none of the
// server's, the store's, the console's, SQL's or Prometheus's packages.
func TestLeanAgentCarriesNoServerCode(t *testing.T) {
	deps := goListDeps(t, "./cmd/patchbay-agent")
	if !slices.Contains(deps, modulePath+"internal/agent") {
		t.Fatalf("go list -deps ./cmd/patchbay-agent does not list internal/agent; the test is not reading the binary's dependencies: %v", deps)
	}
	for _, d := range deps {
		for _, f := range leanAgentForbidden {
			if d == f || strings.HasPrefix(d, f+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(d, f)) {
				t.Errorf("cmd/patchbay-agent depends on %s (forbidden: %s); the lean agent must not carry server-side code", d, f)
			}
		}
	}
}

// goListDeps is the import paths `go list -deps` prints for pkg.
func goListDeps(t *testing.T, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", pkg)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}
