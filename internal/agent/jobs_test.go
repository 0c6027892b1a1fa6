package agent

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/protocol"
)

const thisHost = "3f1c2a9e-8b4d-4c61-9a7e-2d5f0b6c1e44"

var jobNow = time.Date(2026, 3, 10, 22, 30, 0, 0, time.UTC)

func jobKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

var serverKey = jobKey(1)

func testHooks() Hooks {
	return Hooks{
		"pre-snapshot": {"/usr/sbin/lvcreate", "--snapshot", "/dev/vg0/root"},
		"nginx-up":     {"/usr/bin/curl", "-fsS", "http://127.0.0.1/healthz"},
		"db_backup":    {"/usr/local/sbin/db-backup"},
	}
}

func newVerifier(t *testing.T, store SeqStore) *JobVerifier {
	t.Helper()
	return &JobVerifier{
		Key:    serverKey.Public().(ed25519.PublicKey),
		HostID: thisHost,
		State:  store,
		Hooks:  testHooks(),
		Now:    func() time.Time { return jobNow },
	}
}

func installJob(seq uint64) protocol.Job {
	return protocol.Job{
		ID: "job-" + string(rune('a'+seq%26)), HostID: thisHost, Seq: seq,
		NotBefore: jobNow.Add(-30 * time.Minute), Expires: jobNow.Add(3 * time.Hour),
		Action:   protocol.ActionInstall,
		Packages: []protocol.JobPackage{{Name: "openssl", Arch: "amd64", Version: "3.0.15-1~deb12u1"}},
		Name:     "pre-snapshot", ChangeID: "chg-42",
	}
}

func sign(t testing.TB, key ed25519.PrivateKey, j protocol.Job) protocol.Envelope {
	t.Helper()
	env, err := protocol.SignJob(key, j)
	if err != nil {
		t.Fatalf("SignJob: %v", err)
	}
	return env
}

// signRaw signs bytes as they are: what a compromised server could send.
func signRaw(key ed25519.PrivateKey, payload []byte) protocol.Envelope {
	return protocol.Envelope{Payload: payload, Signature: ed25519.Sign(key, payload), KeyID: protocol.JobKeyID(key.Public().(ed25519.PublicKey))}
}

func TestAValidJobIsAcceptedAndItsSequenceRecorded(t *testing.T) {
	store := &MemSeq{}
	v := newVerifier(t, store)
	want := installJob(1)
	got, err := v.Accept(sign(t, serverKey, want))
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if got.ID != want.ID || got.Seq != 1 || got.Action != protocol.ActionInstall || len(got.Packages) != 1 || got.Packages[0] != want.Packages[0] {
		t.Fatalf("Accept = %+v, want %+v", got, want)
	}
	if store.LastSeq() != 1 {
		t.Fatalf("LastSeq = %d after accepting sequence 1", store.LastSeq())
	}
	// Sequences may skip (jobs the server withdrew); they must only grow.
	if _, err := v.Accept(sign(t, serverKey, installJob(7))); err != nil {
		t.Fatalf("Accept of sequence 7 after 1: %v", err)
	}
	if store.LastSeq() != 7 {
		t.Fatalf("LastSeq = %d, want 7", store.LastSeq())
	}
}

func TestEveryActionIsAccepted(t *testing.T) {
	v := newVerifier(t, &MemSeq{})
	jobs := []protocol.Job{installJob(1)}
	for i, a := range []struct {
		action protocol.Action
		name   string
	}{{protocol.ActionReboot, ""}, {protocol.ActionHook, "db_backup"}, {protocol.ActionHealthCheck, "nginx-up"}, {protocol.ActionInventory, ""}, {protocol.ActionQuarantine, "db_backup"}, {protocol.ActionRelease, "db_backup"}} {
		j := installJob(uint64(i + 2))
		j.Action, j.Name, j.Packages = a.action, a.name, nil
		jobs = append(jobs, j)
	}
	rollback := installJob(8)
	rollback.Rollback, rollback.Name = true, ""
	jobs = append(jobs, rollback)
	for _, j := range jobs {
		if _, err := v.Accept(sign(t, serverKey, j)); err != nil {
			t.Errorf("Accept(%s) = %v", j.Action, err)
		}
	}
}

func TestClockSkewIsTolerated(t *testing.T) {
	v := newVerifier(t, &MemSeq{})
	j := installJob(1)
	j.NotBefore = jobNow.Add(ClockSkew - time.Second)
	if _, err := v.Accept(sign(t, serverKey, j)); err != nil {
		t.Fatalf("a job valid from %v ahead was refused: %v", ClockSkew-time.Second, err)
	}
	j = installJob(2)
	j.NotBefore = jobNow.Add(ClockSkew)
	if _, err := v.Accept(sign(t, serverKey, j)); err != nil {
		t.Fatalf("a job valid from exactly %v ahead was refused: %v", ClockSkew, err)
	}
}

// TestForgedJobsAreRefused is the acceptance "Forged-job tests": each job
// is refused with its reason, and the last accepted sequence stays where
// it was, so nothing is run and nothing is recorded.
func TestForgedJobsAreRefused(t *testing.T) {
	const last = 5
	good := sign(t, serverKey, installJob(last+1))
	mod := func(f func(*protocol.Job)) protocol.Envelope {
		j := installJob(last + 1)
		f(&j)
		return sign(t, serverKey, j)
	}
	raw := func(payload string) protocol.Envelope { return signRaw(serverKey, []byte(payload)) }
	const head = `{"id":"job-x","host_id":"` + thisHost + `","seq":6,"not_before":"2026-03-10T22:00:00Z","expires":"2026-03-11T02:00:00Z",`

	cases := []struct {
		name string
		env  protocol.Envelope
		want error
	}{
		{"a flipped payload byte", withPayload(good, flip(good.Payload, 40)), ErrBadSignature},
		{"a flipped byte in the package version", withPayload(good, bytes.Replace(good.Payload, []byte("3.0.15"), []byte("3.0.14"), 1)), ErrBadSignature},
		{"a flipped signature byte", withSignature(good, flip(good.Signature, 10)), ErrBadSignature},
		{"a job signed by another key", sign(t, jobKey(2), installJob(last+1)), ErrBadSignature},
		{"another key's job with the pinned key ID", withKeyID(sign(t, jobKey(2), installJob(last+1)), good.KeyID), ErrBadSignature},
		{"an empty envelope", protocol.Envelope{}, ErrBadSignature},
		{"a job for another host", mod(func(j *protocol.Job) { j.HostID = "9d0e7b1a-0000-4000-8000-000000000001" }), ErrWrongHost},
		{"a replayed sequence", mod(func(j *protocol.Job) { j.Seq = last }), ErrReplay},
		{"a lower sequence", mod(func(j *protocol.Job) { j.Seq = last - 1 }), ErrReplay},
		{"an expired job", mod(func(j *protocol.Job) { j.NotBefore, j.Expires = jobNow.Add(-2*time.Hour), jobNow.Add(-time.Second) }), ErrExpired},
		{"a job expiring right now", mod(func(j *protocol.Job) { j.Expires = jobNow }), ErrExpired},
		{"a job valid only later", mod(func(j *protocol.Job) {
			j.NotBefore, j.Expires = jobNow.Add(ClockSkew+time.Second), jobNow.Add(time.Hour)
		}), ErrNotYetValid},
		{"an unknown action", raw(head + `"action":"exec","name":"backup"}`), ErrInvalidJob},
		{"a shell command action", raw(head + `"action":"shell","packages":[{"name":"x","version":"1"}]}`), ErrInvalidJob},
		{"an unknown field", raw(head + `"action":"hook","name":"db_backup","argv":["/bin/sh","-c","id"]}`), ErrInvalidJob},
		{"an unknown package field", raw(head + `"action":"install","packages":[{"name":"openssl","version":"1","repo":"http://evil.example/"}]}`), ErrInvalidJob},
		{"a duplicate action field", raw(head + `"action":"exec","action":"inventory"}`), ErrInvalidJob},
		{"a package name starting with '-'", raw(head + `"action":"install","packages":[{"name":"-oAPT::Update::Pre-Invoke::=id","version":"1.0"}]}`), ErrInvalidJob},
		{"a package name with a space", raw(head + `"action":"install","packages":[{"name":"openssl curl","version":"1.0"}]}`), ErrInvalidJob},
		{"a package name with ';'", raw(head + `"action":"install","packages":[{"name":"openssl;reboot","version":"1.0"}]}`), ErrInvalidJob},
		{"a version with '$('", raw(head + `"action":"install","packages":[{"name":"openssl","version":"$(id)"}]}`), ErrInvalidJob},
		{"an unknown hook", mod(func(j *protocol.Job) { j.Action, j.Name, j.Packages = protocol.ActionHook, "rm-rf-everything", nil }), ErrUnknownHook},
		{"an unknown health check", mod(func(j *protocol.Job) { j.Action, j.Name, j.Packages = protocol.ActionHealthCheck, "curl-evil", nil }), ErrUnknownHook},
		{"an undeclared quarantine hook", mod(func(j *protocol.Job) { j.Action, j.Name, j.Packages = protocol.ActionQuarantine, "isolate", nil }), ErrUnknownHook},
		{"an undeclared release hook", mod(func(j *protocol.Job) { j.Action, j.Name, j.Packages = protocol.ActionRelease, "isolate", nil }), ErrUnknownHook},
		{"an unknown pre-patch hook", mod(func(j *protocol.Job) { j.Name = "wipe" }), ErrUnknownHook},
		// A forged sequence far ahead must not be recorded either: it would
		// block every genuine job after it.
		{"another host's job with a high sequence", mod(func(j *protocol.Job) { j.HostID, j.Seq = "other-host", 1_000_000 }), ErrWrongHost},
		{"an expired job with a high sequence", mod(func(j *protocol.Job) {
			j.Seq, j.Expires = 1_000_000, jobNow.Add(-time.Minute)
			j.NotBefore = j.Expires.Add(-time.Hour)
		}), ErrExpired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := &MemSeq{last: last}
			v := newVerifier(t, store)
			j, err := v.Accept(c.env)
			if !errors.Is(err, c.want) {
				t.Fatalf("Accept = %+v, %v; want %v", j, err, c.want)
			}
			for _, other := range []error{ErrBadSignature, ErrWrongHost, ErrExpired, ErrNotYetValid, ErrReplay, ErrInvalidJob, ErrUnknownHook} {
				if other != c.want && errors.Is(err, other) {
					t.Errorf("error %q also claims %q", err, other)
				}
			}
			if j.ID != "" || j.Action != "" {
				t.Errorf("a refused Accept returned a job: %+v", j)
			}
			if store.LastSeq() != last {
				t.Fatalf("the refusal changed the last accepted sequence from %d to %d", last, store.LastSeq())
			}
			if _, err := v.Accept(good); err != nil {
				t.Fatalf("the next genuine job is refused after the forged one: %v", err)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func withPayload(e protocol.Envelope, p []byte) protocol.Envelope   { e.Payload = p; return e }
func withSignature(e protocol.Envelope, s []byte) protocol.Envelope { e.Signature = s; return e }
func withKeyID(e protocol.Envelope, id string) protocol.Envelope    { e.KeyID = id; return e }

// TestAcceptedSequenceSurvivesACrash: the sequence is on disk when Accept
// returns, so a restarted agent refuses the job it had already accepted.
func TestAcceptedSequenceSurvivesACrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "job-seq.json")
	store, err := OpenSeqFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if store.LastSeq() != 0 {
		t.Fatalf("a new store starts at %d", store.LastSeq())
	}
	env := sign(t, serverKey, installJob(5))
	if _, err := newVerifier(t, store).Accept(env); err != nil {
		t.Fatalf("Accept: %v", err)
	}

	// The process dies here; nothing but the file survives.
	reopened, err := OpenSeqFile(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if reopened.LastSeq() != 5 {
		t.Fatalf("reopened LastSeq = %d, want 5", reopened.LastSeq())
	}
	v := newVerifier(t, reopened)
	if _, err := v.Accept(env); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay of sequence 5 after the restart = %v, want ErrReplay", err)
	}
	if _, err := v.Accept(sign(t, serverKey, installJob(6))); err != nil {
		t.Fatalf("sequence 6 after the restart: %v", err)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("the state directory holds %d entries, want only the sequence file: %v", len(entries), entries)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("sequence file mode = %v, want 0600", fi.Mode().Perm())
	}
}

type failingSeq struct{ MemSeq }

func (f *failingSeq) SetLastSeq(uint64) error { return errors.New("disk full") }

func TestAJobIsNotAcceptedWhenItsSequenceCannotBeRecorded(t *testing.T) {
	store := &failingSeq{}
	j, err := newVerifier(t, store).Accept(sign(t, serverKey, installJob(1)))
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Accept = %+v, %v; want the store's error", j, err)
	}
	if j.ID != "" {
		t.Fatalf("Accept returned a job it could not record: %+v", j)
	}
}

func TestSeqFileRefusesCorruptionAndGoingBackwards(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"empty":         "",
		"not JSON":      "5\n",
		"unknown field": `{"last_seq":5,"reset":true}`,
		"negative":      `{"last_seq":-1}`,
		"trailing data": `{"last_seq":5}{"last_seq":0}`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenSeqFile(path); err == nil {
			t.Errorf("OpenSeqFile accepted a %s file", name)
		}
	}
	f, err := OpenSeqFile(filepath.Join(dir, "seq.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetLastSeq(9); err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{9, 3, 0} {
		if err := f.SetLastSeq(seq); err == nil {
			t.Errorf("SetLastSeq(%d) after 9 succeeded", seq)
		}
	}
	if g, _ := OpenSeqFile(filepath.Join(dir, "seq.json")); g.LastSeq() != 9 {
		t.Errorf("the file went backwards to %d", g.LastSeq())
	}
}

// TestConcurrentDeliveriesRunAJobOnce: the same job delivered twice at
// once (a retried check-in) is accepted exactly once.
func TestConcurrentDeliveriesRunAJobOnce(t *testing.T) {
	store, err := OpenSeqFile(filepath.Join(t.TempDir(), "seq.json"))
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, store)
	env := sign(t, serverKey, installJob(1))
	var accepted atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Accept(env); err == nil {
				accepted.Add(1)
			} else if !errors.Is(err, ErrReplay) {
				t.Errorf("Accept = %v, want nil or ErrReplay", err)
			}
		}()
	}
	wg.Wait()
	if accepted.Load() != 1 {
		t.Fatalf("the job was accepted %d times", accepted.Load())
	}
}

// writeHooksFile copies a hooks file to a private temporary file; a
// checkout's testdata may be group-writable, which LoadHooks refuses.
func writeHooksFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent-hooks.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadHooks(t *testing.T) {
	data, err := os.ReadFile("testdata/hooks/agent-hooks.json")
	if err != nil {
		t.Fatal(err)
	}
	h, err := LoadHooks(writeHooksFile(t, data))
	if err != nil {
		t.Fatalf("LoadHooks: %v", err)
	}
	if len(h) != 3 {
		t.Fatalf("LoadHooks = %v, want 3 hooks", h)
	}
	argv, ok := h.Command("nginx-up")
	if !ok || len(argv) != 5 || argv[0] != "/usr/bin/curl" || argv[4] != "http://127.0.0.1/healthz" {
		t.Fatalf("Command(nginx-up) = %q, %v", argv, ok)
	}
	argv[0] = "/bin/sh"
	if again, _ := h.Command("nginx-up"); again[0] != "/usr/bin/curl" {
		t.Fatal("Command returned the declared argv itself, not a copy")
	}
	if _, ok := h.Command("rm"); ok {
		t.Fatal("Command found an undeclared hook")
	}
}

func TestLoadHooksRefusesUnsafeFiles(t *testing.T) {
	bad, err := filepath.Glob("testdata/hooks/bad-*.json")
	if err != nil || len(bad) == 0 {
		t.Fatalf("no bad hook files: %v", err)
	}
	files := map[string]string{}
	for _, f := range bad {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(f)] = string(b)
	}
	for name, content := range map[string]string{
		"an array":                 `[["/bin/true"]]`,
		"an empty argv":            `{"backup": []}`,
		"a null argv":              `{"backup": null}`,
		"a number in argv":         `{"backup": ["/bin/tar", 1]}`,
		"a program with ..":        `{"backup": ["/usr/../bin/sh"]}`,
		"an upper-case name":       `{"Backup": ["/bin/true"]}`,
		"a name with a space":      `{"back up": ["/bin/true"]}`,
		"an empty name":            `{"": ["/bin/true"]}`,
		"a NUL in an argument":     `{"backup": ["/bin/echo", "a\u0000b"]}`,
		"trailing data":            `{"backup": ["/bin/true"]} {"x": ["/bin/sh"]}`,
		"a truncated object":       `{"backup": ["/bin/true"]`,
		"not JSON":                 `backup=/bin/true`,
		"an empty file":            ``,
		"a nested object as argv":  `{"backup": {"argv": ["/bin/true"]}}`,
		"a program that is a name": `{"backup": ["sh", "-c", "id"]}`,
	} {
		files[name] = content
	}
	for name, content := range files {
		t.Run(name, func(t *testing.T) {
			if h, err := LoadHooks(writeHooksFile(t, []byte(content))); err == nil {
				t.Fatalf("LoadHooks accepted %s: %v", content, h)
			}
		})
	}

	t.Run("a group-writable file", func(t *testing.T) {
		path := writeHooksFile(t, []byte(`{"backup": ["/bin/true"]}`))
		if err := os.Chmod(path, 0o620); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadHooks(path); err == nil || !strings.Contains(err.Error(), "chmod go-w") {
			t.Fatalf("LoadHooks of a group-writable file = %v, want a refusal saying how to fix it", err)
		}
	})
	t.Run("a missing file", func(t *testing.T) {
		if _, err := LoadHooks(filepath.Join(t.TempDir(), "none.json")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("LoadHooks of a missing file = %v, want os.ErrNotExist", err)
		}
	})
	t.Run("a directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "d")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadHooks(dir); err == nil {
			t.Fatal("LoadHooks accepted a directory")
		}
	})
}

func FuzzParseHooks(f *testing.F) {
	files, _ := filepath.Glob("testdata/hooks/*.json")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseHooks(data)
		if err != nil {
			return
		}
		for name, argv := range h {
			if !protocol.ValidCommandName(name) || len(argv) == 0 || !filepath.IsAbs(argv[0]) || filepath.Clean(argv[0]) != argv[0] {
				t.Fatalf("parseHooks accepted %q: %q", name, argv)
			}
			for _, a := range argv {
				if strings.IndexByte(a, 0) >= 0 {
					t.Fatalf("parseHooks accepted a NUL in %q", a)
				}
			}
		}
	})
}

// FuzzAccept feeds payloads signed with the pinned key, as a compromised
// server could send them, through a verifier that has accepted sequence 5.
// Whatever it accepts is valid, for this host, current, above the last
// sequence and names only declared commands; whatever it refuses leaves
// the sequence alone.
func FuzzAccept(f *testing.F) {
	for _, seq := range []uint64{5, 6, 1 << 40} {
		env, err := protocol.SignJob(serverKey, installJob(seq))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(env.Payload)
	}
	f.Add([]byte(`{"id":"j","host_id":"` + thisHost + `","seq":9,"not_before":"2026-03-10T22:00:00Z","expires":"2026-03-11T02:00:00Z","action":"exec","name":"db_backup"}`))
	f.Add([]byte(`{"id":"j","host_id":"` + thisHost + `","seq":9,"not_before":"2026-03-10T22:00:00Z","expires":"2026-03-11T02:00:00Z","action":"health_check","name":"nginx-up"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		const last = 5
		store := &MemSeq{last: last}
		v := &JobVerifier{Key: serverKey.Public().(ed25519.PublicKey), HostID: thisHost, State: store, Hooks: testHooks(), Now: func() time.Time { return jobNow }}
		j, err := v.Accept(signRaw(serverKey, payload))
		if err != nil {
			if store.LastSeq() != last {
				t.Fatalf("a refused job moved the sequence to %d: %v", store.LastSeq(), err)
			}
			if errors.Is(err, ErrBadSignature) {
				t.Fatalf("a validly signed payload was called a bad signature: %v", err)
			}
			return
		}
		if err := j.Validate(); err != nil {
			t.Fatalf("accepted an invalid job: %v", err)
		}
		if j.HostID != thisHost || j.Seq <= last || store.LastSeq() != j.Seq || !jobNow.Before(j.Expires) || jobNow.Before(j.NotBefore.Add(-ClockSkew)) {
			t.Fatalf("accepted a job it should have refused: %+v (last sequence now %d)", j, store.LastSeq())
		}
		if _, ok := v.Hooks[j.Name]; j.Name != "" && !ok {
			t.Fatalf("accepted an undeclared command %q", j.Name)
		}
	})
}
