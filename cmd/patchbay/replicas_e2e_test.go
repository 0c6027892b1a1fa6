package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/protocol"
	"github.com/patchbay/patchbay/internal/sim"
	"github.com/patchbay/patchbay/internal/testenv"
)

// Several server replicas on one PostgreSQL database (docs/replicas.md):
// real server processes sharing a data directory's keys and a database.

// replicaDatabase creates an empty PostgreSQL database for one test and
// drops it after; it skips (fails under CI=true) without
// PATCHBAY_TEST_POSTGRES.
func replicaDatabase(t *testing.T) (string, *sql.DB) {
	t.Helper()
	base := testenv.Env(t, "PATCHBAY_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("pbreplicas_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	})
	return u.String(), db
}

// startReplica starts `patchbay server` on dataDir and the database dbURL
// with env added to the environment, and waits for its banner. Killed
// (SIGKILL) processes are fine at cleanup.
func startReplica(t *testing.T, dataDir, dbURL string, env []string, args ...string) *serverProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, binary, append([]string{"server", "--listen", "127.0.0.1:0", "--data-dir", dataDir,
		"--database", dbURL}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	sp := &serverProc{dataDir: dataDir, stderr: &syncBuffer{}}
	cmd.Stderr = sp.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sp.pid = cmd.Process.Pid
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("replica %d stderr:\n%s", sp.pid, sp.stderr.String())
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := bannerURL.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case sp.url = <-found:
	case <-time.After(60 * time.Second):
		t.Fatalf("replica did not start; stderr:\n%s", sp.stderr.String())
	}
	return sp
}

// copyDataDir gives a second replica the first one's CA, keys and admin
// token (what an operator copies to every replica).
func copyDataDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), "patchbay.db") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// waitReplicas polls cond every 100 ms until it holds or limit passes, and
// returns how long it took.
func waitReplicas(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

func TestReplicasFollowEachOthersImports(t *testing.T) {
	dbURL, _ := replicaDatabase(t)
	a := startReplica(t, t.TempDir(), dbURL, nil, "--feed-source", "none", "--checkin-interval", "2s")
	b := startReplica(t, copyDataDir(t, a.dataDir), dbURL, nil, "--feed-source", "none", "--checkin-interval", "2s")

	// A host enrolled on b before the import, and one after it.
	token := b.enrollToken(t)
	before, beforeState := ubuntu2204Root(t, "jammy-before"), t.TempDir()
	if out, err := b.agentRun(t, beforeState, before, token); err != nil {
		t.Fatalf("agent: %v\n%s", err, out)
	}

	a.importFeed(t, "testdata/feeds/USN-7768-1.json")
	imported := time.Now()
	hasUSN := func(sp *serverProc, host string) func() bool {
		return func() bool {
			f, ok := byAdvisory(sp.findings(t, "--host", host))["USN-7768-1"]
			return ok && f.Package == "dpkg" && f.Status == "open"
		}
	}
	waitReplicas(t, 5*time.Second, "jammy-before's USN-7768-1 finding on b", hasUSN(b, "jammy-before"))

	after, afterState := ubuntu2204Root(t, "jammy-after"), t.TempDir()
	if out, err := b.agentRun(t, afterState, after, token); err != nil {
		t.Fatalf("agent: %v\n%s", err, out)
	}
	waitReplicas(t, 5*time.Second-time.Since(imported), "jammy-after's USN-7768-1 finding on b, 5 s after the import on a",
		hasUSN(b, "jammy-after"))
	t.Logf("both hosts' findings on b %s after the import on a", time.Since(imported).Round(time.Millisecond))

	// b's own index holds the advisory: its follower loaded it.
	waitReplicas(t, 3*time.Second, "b's log of following a's import", func() bool {
		return strings.Contains(b.stderr.String(), "advisory index followed the database")
	})
	// The finding is the same read from a.
	if !hasUSN(a, "jammy-after")() {
		t.Fatal("a does not list jammy-after's finding")
	}
}

// feedOrigin is a loopback HTTPS feed source that notes when it was
// fetched.
type feedOrigin struct {
	srv    *httptest.Server
	caFile string
	mu     sync.Mutex
	gets   []time.Time
}

func newFeedOrigin(t *testing.T, path string) *feedOrigin {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	o := &feedOrigin{}
	o.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.gets = append(o.gets, time.Now())
		o.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(o.srv.Close)
	o.caFile = filepath.Join(t.TempDir(), "feed-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: o.srv.Certificate().Raw})
	if err := os.WriteFile(o.caFile, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return o
}

func (o *feedOrigin) fetches() []time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Time(nil), o.gets...)
}

// leaseHolderPID reads which server process holds the lease name.
func leaseHolderPID(t *testing.T, db *sql.DB, name string) (int, int64) {
	t.Helper()
	var holder string
	var token int64
	if err := db.QueryRow(`SELECT holder, token FROM leases WHERE name = $1`, name).Scan(&holder, &token); err != nil {
		t.Fatalf("lease %s: %v", name, err)
	}
	parts := strings.Split(holder, "/") // host/pid/random
	pid, err := strconv.Atoi(parts[len(parts)-2])
	if err != nil {
		t.Fatalf("lease holder %q", holder)
	}
	return pid, token
}

func TestReplicasSyncFeedsOncePerIntervalAndTakeOverAfterAKill(t *testing.T) {
	dbURL, db := replicaDatabase(t)
	origin := newFeedOrigin(t, "testdata/feeds/USN-7768-1.json")
	const interval = 4 * time.Second
	env := []string{"SSL_CERT_FILE=" + origin.caFile}
	args := []string{"--feed-source", "osv-test=" + origin.srv.URL + "/usn.json", "--feed-sync-interval", interval.String(),
		"--lease-ttl", "3s", "--checkin-interval", "2s"}
	a := startReplica(t, t.TempDir(), dbURL, env, args...)
	b := startReplica(t, copyDataDir(t, a.dataDir), dbURL, env, args...)
	replicas := map[int]*serverProc{a.pid: a, b.pid: b}

	// Both replicas run; the feed is fetched once per interval.
	waitReplicas(t, 20*time.Second, "four fetches", func() bool { return len(origin.fetches()) >= 4 })
	gets := origin.fetches()
	for i := 1; i < len(gets); i++ {
		if gap := gets[i].Sub(gets[i-1]); gap < interval-500*time.Millisecond {
			t.Fatalf("fetches %d and %d %s apart; the interval is %s (fetches: %v)", i-1, i, gap, interval, gets)
		}
	}
	if out, _, err := a.cli(t, "feeds", "status"); err != nil || !strings.Contains(out, "osv-test") {
		t.Fatalf("feeds status on a: %v\n%s", err, out)
	}

	// Kill the lease's holder: the other replica takes the lease over
	// (a new token) once it expires, and goes on syncing.
	pid, token := leaseHolderPID(t, db, "feed-sync")
	holder, ok := replicas[pid]
	if !ok {
		t.Fatalf("lease holder pid %d is neither replica (%d, %d)", pid, a.pid, b.pid)
	}
	survivor := a
	if holder == a {
		survivor = b
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	took := waitReplicas(t, 10*time.Second, "the survivor's take-over of the lease", func() bool {
		p, tok := leaseHolderPID(t, db, "feed-sync")
		return p == survivor.pid && tok == token+1
	})
	waitReplicas(t, interval+5*time.Second, "a fetch by the survivor", func() bool {
		gs := origin.fetches()
		return gs[len(gs)-1].After(killed)
	})
	t.Logf("lease taken over %s after the SIGKILL of its holder", took.Round(time.Millisecond))
	// The schedule is the database's: the survivor keeps the interval.
	gets = origin.fetches()
	for i := 1; i < len(gets); i++ {
		if gap := gets[i].Sub(gets[i-1]); gap < interval-500*time.Millisecond {
			t.Fatalf("fetches %d and %d %s apart around the take-over; the interval is %s (fetches: %v)", i-1, i, gap, interval, gets)
		}
	}
	if out, _, err := survivor.cli(t, "feeds", "status"); err != nil || !strings.Contains(out, "osv-test") {
		t.Fatalf("feeds status on the survivor: %v\n%s", err, out)
	}
}

// startBalancer is a TCP load balancer (TLS passes through, as agents'
// client certificates need): each connection goes to a backend picked at
// random, or the next one when that one does not answer.
func startBalancer(t *testing.T, backends ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				first := mathrand.IntN(len(backends))
				for i := range backends {
					b, err := net.DialTimeout("tcp", backends[(first+i)%len(backends)], time.Second)
					if err != nil {
						continue
					}
					defer b.Close()
					done := make(chan struct{}, 2)
					go func() { io.Copy(b, c); done <- struct{}{} }()
					go func() { io.Copy(c, b); done <- struct{}{} }()
					<-done
					return
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRolloutSurvivesCrashesSpreadOverTwoReplicas is the rollout crash
// test (crash_e2e_test.go) with two replicas on one PostgreSQL database
// behind a load balancer: 200 simulated hosts roll out a package while a
// replica picked at random is killed with SIGKILL and started again, 20
// times. Every host runs its install exactly once and every confirmed
// result is in the change.
func TestRolloutSurvivesCrashesSpreadOverTwoReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("long crash test")
	}
	dbURL, _ := replicaDatabase(t)
	bases, err := sim.LoadBases(filepath.Join("..", "..", "..", "shared", "data", "inventories", "package-lists"))
	if err != nil || len(bases) == 0 {
		testenv.SkipOrFail(t, "shared/data/inventories is not beside the repository (../shared): %v", err)
	}
	var ubuntu []sim.Base
	for _, b := range bases {
		if strings.Contains(b.Name, "ubuntu") {
			ubuntu = append(ubuntu, b)
		}
	}
	args := func(addr, dir string) []string {
		return []string{"server", "--listen", addr, "--data-dir", dir, "--database", dbURL, "--feed-source", "none",
			"--engine-interval", "100ms", "--checkin-interval", "1s", "--lease-ttl", "3s"}
	}
	addrA, addrB := freeAddr(t), freeAddr(t)
	dirA := t.TempDir()
	a := &killableServer{sp: &serverProc{dataDir: dirA, stderr: &syncBuffer{}}, args: args(addrA, dirA)}
	a.start(t)
	dirB := copyDataDir(t, dirA)
	b := &killableServer{sp: &serverProc{dataDir: dirB, stderr: &syncBuffer{}}, args: args(addrB, dirB)}
	b.start(t)
	replicas := []*killableServer{a, b}
	t.Cleanup(func() {
		for i, k := range replicas {
			k.kill()
			if t.Failed() {
				t.Logf("replica %d stderr (tail):\n%s", i, tail(k.sp.stderr.String(), 3000))
			}
		}
	})
	lb := &serverProc{url: "https://" + startBalancer(t, addrA, addrB), dataDir: dirA, stderr: &syncBuffer{}}

	lb.mustCLI(t, "users", "create", "bob", "--role", "approver")
	orgFile := filepath.Join(t.TempDir(), "org.yaml")
	os.WriteFile(orgFile, []byte(`teams: [{name: sim, members: [{user: bob, role: approver}]}]
groups:
  - {name: fleet, team: sim, selector: {labels: {fleet: sim}}, stakeholder: bob, sysadmin: bob, criticality: 3, exposure: internal, ring: production}
rings: [production]
`), 0o644)
	lb.mustCLI(t, "apply", "-f", orgFile)
	token := lb.enrollToken(t, "--label", "fleet=sim", "--max-hosts", "200")

	var mu sync.Mutex
	installs := map[string]int{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	simDone := make(chan error, 1)
	go func() {
		_, err := sim.Run(ctx, sim.Config{Server: lb.url, EnrollToken: token, CAFile: filepath.Join(dirA, "ca.crt"),
			Hosts: 200, Packages: 40, Interval: 400 * time.Millisecond, Duration: 10 * time.Minute, Concurrency: 8,
			Bases: ubuntu, Seed: 7, Jobs: true,
			OnInstall: func(host string, _ []protocol.JobPackage) {
				mu.Lock()
				installs[host]++
				mu.Unlock()
			}})
		simDone <- err
	}()
	waitFor(t, func() bool { return len(lb.hosts(t)) == 200 }, "200 simulated hosts enrolled")

	bob := strings.TrimSpace(lb.mustCLI(t, "tokens", "create", "bob", "--user", "bob", "--role", "approver"))
	var ch struct{ ID string }
	json.Unmarshal([]byte(lb.mustCLI(t, "changes", "create", "bash everywhere", "--group", "fleet", "--package", "bash@9.9-9",
		"--force-not-offered", "--batch", "20", "--job-timeout", "5m", "--ignore-windows", "-o", "json")), &ch)
	lb.mustCLI(t, "changes", "submit", ch.ID)
	if _, errOut, err := run(t, "--server", lb.url, "--ca", filepath.Join(dirA, "ca.crt"), "--token", bob, "changes", "approve", ch.ID); err != nil {
		t.Fatalf("approve: %v %s", err, errOut)
	}
	lb.mustCLI(t, "changes", "start", ch.ID)

	rng := mathrand.New(mathrand.NewPCG(3, 4))
	kills := [2]int{}
	for range 20 {
		time.Sleep(time.Duration(150+rng.IntN(700)) * time.Millisecond)
		i := rng.IntN(2)
		kills[i]++
		replicas[i].kill()
		replicas[i].start(t)
	}
	t.Logf("kills: %d of replica a, %d of replica b", kills[0], kills[1])
	var v changeView
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		// A connection the balancer handed to a replica as it was killed
		// ends in EOF, as behind a real balancer: ask again.
		out, _, err := lb.cli(t, "changes", "show", ch.ID, "-o", "json")
		if err != nil {
			time.Sleep(500 * time.Millisecond)
			continue
		}
		json.Unmarshal([]byte(out), &v)
		if v.State == "awaiting-signoff" || v.State == "halted" {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	cancel()
	<-simDone
	if v.State != "awaiting-signoff" || v.Summary == nil || v.Summary.Succeeded != 200 {
		t.Fatalf("after 20 crashes spread over two replicas the change is %s: %+v", v.State, v.Summary)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(installs) != 200 {
		t.Errorf("%d hosts ran the install, want 200", len(installs))
	}
	for host, n := range installs {
		if n != 1 {
			t.Errorf("%s ran its install %d times", host, n)
		}
	}
}
