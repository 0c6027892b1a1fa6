package protocol

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/internal/fielderr"
)

func testJobKey(t testing.TB, seed byte) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

// signRaw signs bytes as they are, the way a compromised or buggy server
// could, bypassing SignJob's validation.
func signRaw(key ed25519.PrivateKey, payload []byte) Envelope {
	return Envelope{Payload: payload, Signature: ed25519.Sign(key, payload), KeyID: JobKeyID(key.Public().(ed25519.PublicKey))}
}

var jobTime = time.Date(2026, 3, 10, 22, 0, 0, 0, time.UTC)

func validInstallJob() Job {
	return Job{
		ID: "job-1", HostID: "3f1c2a9e-8b4d-4c61-9a7e-2d5f0b6c1e44", Seq: 7,
		NotBefore: jobTime, Expires: jobTime.Add(4 * time.Hour), Action: ActionInstall,
		Packages: []JobPackage{{Name: "openssl", Arch: "amd64", Version: "3.0.15-1~deb12u1"}, {Name: "libc6", Version: "2.36-9+deb12u9"}},
		Name:     "pre-snapshot", ChangeID: "chg-42",
	}
}

func TestSignedJobsOpenToTheSameJob(t *testing.T) {
	key := testJobKey(t, 1)
	pub := key.Public().(ed25519.PublicKey)
	berlin := time.FixedZone("CET", 3600)
	jobs := map[string]Job{
		"install with pre-patch hook": validInstallJob(),
		"rollback install":            {ID: "j2", HostID: "h1", Seq: 1, NotBefore: jobTime, Expires: jobTime.Add(time.Hour), Action: ActionInstall, Packages: []JobPackage{{Name: "openssl", Version: "1:3.0.11-1~deb12u2"}}, Rollback: true},
		"reboot":                      {ID: "j3", HostID: "h1", Seq: 2, NotBefore: jobTime, Expires: jobTime.Add(time.Hour), Action: ActionReboot},
		"hook":                        {ID: "j4", HostID: "h1", Seq: 3, NotBefore: jobTime, Expires: jobTime.Add(time.Hour), Action: ActionHook, Name: "db-backup"},
		"health check":                {ID: "j5", HostID: "h1", Seq: 4, NotBefore: jobTime, Expires: jobTime.Add(time.Hour), Action: ActionHealthCheck, Name: "nginx_up"},
		"restart services":            {ID: "j8", HostID: "h1", Seq: 7, NotBefore: jobTime, Expires: jobTime.Add(time.Hour), Action: ActionRestartServices},
		"agent update":                {ID: "j9", HostID: "h1", Seq: 8, NotBefore: jobTime, Expires: jobTime.Add(time.Hour), Action: ActionAgentUpdate, Release: []byte("patchbay-agent release\nversion v1.1.0\n\n— k sig\n")},
		"inventory":                   {ID: "j6", HostID: "h1", Seq: 5, NotBefore: jobTime, Expires: jobTime.Add(time.Hour), Action: ActionInventory},
		"times in another zone":       {ID: "j7", HostID: "h1", Seq: 6, NotBefore: jobTime.In(berlin), Expires: jobTime.Add(time.Hour + 123*time.Nanosecond).In(berlin), Action: ActionInventory},
	}
	for name, j := range jobs {
		t.Run(name, func(t *testing.T) {
			env, err := SignJob(key, j)
			if err != nil {
				t.Fatalf("SignJob: %v", err)
			}
			if env.KeyID != JobKeyID(pub) {
				t.Errorf("KeyID = %q, want %q", env.KeyID, JobKeyID(pub))
			}
			got, err := env.Open(pub)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !got.NotBefore.Equal(j.NotBefore) || !got.Expires.Equal(j.Expires) {
				t.Errorf("times changed: got %v..%v, want %v..%v", got.NotBefore, got.Expires, j.NotBefore, j.Expires)
			}
			got.NotBefore, got.Expires, j.NotBefore, j.Expires = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if !jobsEqual(got, j) {
				t.Errorf("Open = %+v, want %+v", got, j)
			}
			again, _ := SignJob(key, jobs[name])
			if !bytes.Equal(again.Payload, env.Payload) {
				t.Errorf("signing the same job twice gave different payloads:\n%s\n%s", env.Payload, again.Payload)
			}
		})
	}
}

func jobsEqual(a, b Job) bool {
	if len(a.Packages) != len(b.Packages) {
		return false
	}
	for i := range a.Packages {
		if a.Packages[i] != b.Packages[i] {
			return false
		}
	}
	a.Packages, b.Packages = nil, nil
	return a.ID == b.ID && a.HostID == b.HostID && a.Seq == b.Seq && a.NotBefore.Equal(b.NotBefore) &&
		a.Expires.Equal(b.Expires) && a.Action == b.Action && a.Name == b.Name && a.ChangeID == b.ChangeID && a.Rollback == b.Rollback
}

func TestSignJobRefusesInvalidJobs(t *testing.T) {
	j := validInstallJob()
	j.Action = "exec"
	if _, err := SignJob(testJobKey(t, 1), j); err == nil {
		t.Fatal("SignJob signed a job with action exec")
	}
	if _, err := SignJob(nil, validInstallJob()); err == nil {
		t.Fatal("SignJob signed with no key")
	}
}

func TestOpenRefusesTamperedEnvelopes(t *testing.T) {
	key := testJobKey(t, 1)
	pub := key.Public().(ed25519.PublicKey)
	env, err := SignJob(key, validInstallJob())
	if err != nil {
		t.Fatal(err)
	}
	otherKey := testJobKey(t, 2)
	byOther, err := SignJob(otherKey, validInstallJob())
	if err != nil {
		t.Fatal(err)
	}
	byOtherClaimingPinned := byOther
	byOtherClaimingPinned.KeyID = env.KeyID

	cases := map[string]struct {
		env Envelope
		pub ed25519.PublicKey
	}{
		"a flipped payload byte":                   {env: withPayload(env, flip(env.Payload, 20)), pub: pub},
		"a flipped last payload byte":              {env: withPayload(env, flip(env.Payload, len(env.Payload)-1)), pub: pub},
		"a flipped signature byte":                 {env: withSignature(env, flip(env.Signature, 0)), pub: pub},
		"a flipped last signature byte":            {env: withSignature(env, flip(env.Signature, 63)), pub: pub},
		"a truncated signature":                    {env: withSignature(env, env.Signature[:63]), pub: pub},
		"no signature":                             {env: withSignature(env, nil), pub: pub},
		"a signature by another key":               {env: byOther, pub: pub},
		"another key claiming the pinned key's ID": {env: byOtherClaimingPinned, pub: pub},
		"a wrong key ID":                           {env: withKeyID(env, "0000000000000000"), pub: pub},
		"no pinned key":                            {env: env, pub: nil},
		"a payload with a byte appended":           {env: withPayload(env, append(bytes.Clone(env.Payload), ' ')), pub: pub},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := c.env.Open(c.pub)
			if !errors.Is(err, ErrBadSignature) {
				t.Fatalf("Open = %v, want ErrBadSignature", err)
			}
		})
	}
	if _, err := env.Open(pub); err != nil {
		t.Fatalf("the untouched envelope no longer opens: %v", err)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func withPayload(e Envelope, p []byte) Envelope   { e.Payload = p; return e }
func withSignature(e Envelope, s []byte) Envelope { e.Signature = s; return e }
func withKeyID(e Envelope, id string) Envelope    { e.KeyID = id; return e }

// TestOpenTestdata signs each payload in testdata/jobs as it is, as a
// compromised server could: the good ones open, every bad-* one is refused
// even though its signature is valid.
func TestOpenTestdata(t *testing.T) {
	key := testJobKey(t, 1)
	pub := key.Public().(ed25519.PublicKey)
	files, err := filepath.Glob("testdata/jobs/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			payload, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			j, err := signRaw(key, payload).Open(pub)
			if strings.HasPrefix(name, "bad-") {
				if err == nil {
					t.Fatalf("Open accepted %s: %+v", name, j)
				}
				if errors.Is(err, ErrBadSignature) {
					t.Fatalf("Open called a validly signed bad job a signature failure: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
		})
	}
}

func TestOpenRefusesNonCanonicalPayloads(t *testing.T) {
	key := testJobKey(t, 1)
	pub := key.Public().(ed25519.PublicKey)
	canon := `{"id":"j","host_id":"h","seq":1,"not_before":"2026-03-10T22:00:00Z","expires":"2026-03-10T23:00:00Z","action":"reboot"}`
	if _, err := signRaw(key, []byte(canon)).Open(pub); err != nil {
		t.Fatalf("canonical payload refused: %v", err)
	}
	payloads := map[string]string{
		"an unknown field":              `{"id":"j","host_id":"h","seq":1,"not_before":"2026-03-10T22:00:00Z","expires":"2026-03-10T23:00:00Z","action":"reboot","script":"id"}`,
		"an unknown field in a package": `{"id":"j","host_id":"h","seq":1,"not_before":"2026-03-10T22:00:00Z","expires":"2026-03-10T23:00:00Z","action":"install","packages":[{"name":"a","version":"1","source":"http://evil"}]}`,
		"a duplicate action":            `{"id":"j","host_id":"h","seq":1,"not_before":"2026-03-10T22:00:00Z","expires":"2026-03-10T23:00:00Z","action":"exec","action":"reboot"}`,
		"a differently cased field":     `{"id":"j","host_id":"h","seq":1,"not_before":"2026-03-10T22:00:00Z","expires":"2026-03-10T23:00:00Z","Action":"reboot"}`,
		"reordered fields":              `{"host_id":"h","id":"j","seq":1,"not_before":"2026-03-10T22:00:00Z","expires":"2026-03-10T23:00:00Z","action":"reboot"}`,
		"extra whitespace":              `{"id":"j", "host_id":"h","seq":1,"not_before":"2026-03-10T22:00:00Z","expires":"2026-03-10T23:00:00Z","action":"reboot"}`,
		"a second JSON value":           canon + `{}`,
		"an empty package list":         `{"id":"j","host_id":"h","seq":1,"not_before":"2026-03-10T22:00:00Z","expires":"2026-03-10T23:00:00Z","action":"reboot","packages":[]}`,
		"an escaped action":             `{"id":"j","host_id":"h","seq":1,"not_before":"2026-03-10T22:00:00Z","expires":"2026-03-10T23:00:00Z","action":"reb\u006fot"}`,
		"a negative sequence":           `{"id":"j","host_id":"h","seq":-1,"not_before":"2026-03-10T22:00:00Z","expires":"2026-03-10T23:00:00Z","action":"reboot"}`,
		"not JSON":                      `reboot`,
		"empty":                         ``,
		"an array":                      `[]`,
	}
	for name, p := range payloads {
		t.Run(name, func(t *testing.T) {
			if j, err := signRaw(key, []byte(p)).Open(pub); err == nil {
				t.Fatalf("Open accepted %s: %+v", p, j)
			}
		})
	}
}

func TestOpenRefusesOversizedPayloads(t *testing.T) {
	key := testJobKey(t, 1)
	big := []byte(`{"id":"` + strings.Repeat("a", MaxJobBytes) + `"}`)
	if _, err := signRaw(key, big).Open(key.Public().(ed25519.PublicKey)); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("Open of a %d-byte payload = %v, want a size error", len(big), err)
	}
}

// agentUpdate turns j into an agent_update job carrying note.
func agentUpdate(j *Job, note []byte) Job {
	u := *j
	u.Action, u.Packages, u.Name, u.Release = ActionAgentUpdate, nil, "", note
	return u
}

func TestValidate(t *testing.T) {
	base := func(mod func(*Job)) Job {
		j := validInstallJob()
		mod(&j)
		return j
	}
	many := make([]JobPackage, MaxJobPackages+1)
	for i := range many {
		many[i] = JobPackage{Name: "p" + strconv.Itoa(i), Version: "1"}
	}
	cases := []struct {
		name  string
		job   Job
		field string // "" means valid
	}{
		{"a valid install job is valid", validInstallJob(), ""},
		{"an epoch and tilde version is valid", base(func(j *Job) { j.Packages = []JobPackage{{Name: "libssl3", Version: "1:3.0.15-1~deb12u1+b1"}} }), ""},
		{"an rpm version is valid", base(func(j *Job) {
			j.Packages = []JobPackage{{Name: "openssl-libs", Arch: "x86_64", Version: "1:3.0.7-27.el9_4"}}
		}), ""},
		{"an install job without a hook is valid", base(func(j *Job) { j.Name = "" }), ""},
		{"exactly 1000 packages are valid", base(func(j *Job) { j.Packages = many[:MaxJobPackages] }), ""},
		{"action exec is refused", base(func(j *Job) { j.Action = "exec"; j.Packages = nil }), "action"},
		{"an empty action is refused", base(func(j *Job) { j.Action = ""; j.Packages = nil }), "action"},
		{"an upper-case action is refused", base(func(j *Job) { j.Action = "INSTALL" }), "action"},
		{"an install with no packages is refused", base(func(j *Job) { j.Packages = nil }), "packages"},
		{"1001 packages are refused", base(func(j *Job) { j.Packages = many }), "packages"},
		{"a package name starting with '-' is refused", base(func(j *Job) { j.Packages[0].Name = "-oDebug::pkgDPkgPM=1" }), "packages[0]"},
		{"a package name with a space is refused", base(func(j *Job) { j.Packages[1].Name = "libc6 openssl" }), "packages[1]"},
		{"a package name with ';' is refused", base(func(j *Job) { j.Packages[0].Name = "openssl;reboot" }), "packages[0]"},
		{"a package name with '/' is refused", base(func(j *Job) { j.Packages[0].Name = "../../evil.deb" }), "packages[0]"},
		{"a package name with '=' is refused", base(func(j *Job) { j.Packages[0].Name = "openssl=1.0" }), "packages[0]"},
		{"an empty package name is refused", base(func(j *Job) { j.Packages[0].Name = "" }), "packages[0]"},
		{"a 256-byte package name is refused", base(func(j *Job) { j.Packages[0].Name = strings.Repeat("a", 256) }), "packages[0]"},
		{"a 255-byte package name is valid", base(func(j *Job) { j.Packages[0].Name = strings.Repeat("a", 255) }), ""},
		{"a version starting with '-' is refused", base(func(j *Job) { j.Packages[0].Version = "-1" }), "packages[0]"},
		{"a version with a space is refused", base(func(j *Job) { j.Packages[0].Version = "1.0 2.0" }), "packages[0]"},
		{"a version with '$(' is refused", base(func(j *Job) { j.Packages[0].Version = "$(id)" }), "packages[0]"},
		{"an empty version is refused", base(func(j *Job) { j.Packages[0].Version = "" }), "packages[0]"},
		{"a version with a newline is refused", base(func(j *Job) { j.Packages[0].Version = "1.0\n" }), "packages[0]"},
		{"an arch with '-' is refused", base(func(j *Job) { j.Packages[0].Arch = "-amd64" }), "packages[0]"},
		{"an upper-case arch is refused", base(func(j *Job) { j.Packages[0].Arch = "AMD64" }), "packages[0]"},
		{"a 33-byte arch is refused", base(func(j *Job) { j.Packages[0].Arch = strings.Repeat("a", 33) }), "packages[0]"},
		{"x86_64 is a valid arch", base(func(j *Job) { j.Packages[0].Arch = "x86_64" }), ""},
		{"a duplicate package is refused", base(func(j *Job) { j.Packages[1] = j.Packages[0] }), "packages[1]"},
		{"the same package for two arches is valid", base(func(j *Job) { j.Packages[1] = j.Packages[0]; j.Packages[1].Arch = "i386" }), ""},
		{"a pre-patch hook name with '/' is refused", base(func(j *Job) { j.Name = "/bin/sh" }), "name"},
		{"a hook job needs a name", base(func(j *Job) { j.Action = ActionHook; j.Packages = nil; j.Name = "" }), "name"},
		{"a hook name with a space is refused", base(func(j *Job) { j.Action = ActionHook; j.Packages = nil; j.Name = "backup now" }), "name"},
		{"a hook name starting with '-' is refused", base(func(j *Job) { j.Action = ActionHook; j.Packages = nil; j.Name = "-backup" }), "name"},
		{"an upper-case hook name is refused", base(func(j *Job) { j.Action = ActionHook; j.Packages = nil; j.Name = "Backup" }), "name"},
		{"a 65-byte hook name is refused", base(func(j *Job) { j.Action = ActionHook; j.Packages = nil; j.Name = strings.Repeat("a", 65) }), "name"},
		{"a 64-byte check name is valid", base(func(j *Job) { j.Action = ActionHealthCheck; j.Packages = nil; j.Name = strings.Repeat("a", 64) }), ""},
		{"a quarantine job needs a name", base(func(j *Job) { j.Action = ActionQuarantine; j.Packages = nil; j.Name = "" }), "name"},
		{"a release job needs a name", base(func(j *Job) { j.Action = ActionRelease; j.Packages = nil; j.Name = "" }), "name"},
		{"a quarantine job with packages is refused", base(func(j *Job) { j.Action = ActionQuarantine; j.Name = "isolate" }), "packages"},
		{"a hook job with packages is refused", base(func(j *Job) { j.Action = ActionHook; j.Name = "backup" }), "packages"},
		{"a reboot job with packages is refused", base(func(j *Job) { j.Action = ActionReboot; j.Name = "" }), "packages"},
		{"an inventory job with a name is refused", base(func(j *Job) { j.Action = ActionInventory; j.Packages = nil }), "name"},
		{"a restart_services job naming a unit is refused: the agent detects its own", base(func(j *Job) { j.Action = ActionRestartServices; j.Packages = nil; j.Name = "ssh-service" }), "name"},
		{"a restart_services job with packages is refused", base(func(j *Job) { j.Action = ActionRestartServices; j.Name = "" }), "packages"},
		{"a rollback restart_services is refused", base(func(j *Job) { j.Action = ActionRestartServices; j.Packages = nil; j.Name = ""; j.Rollback = true }), "rollback"},
		{"a rollback reboot is refused", base(func(j *Job) { j.Action = ActionReboot; j.Packages = nil; j.Name = ""; j.Rollback = true }), "rollback"},
		{"expires equal to not_before is refused", base(func(j *Job) { j.Expires = j.NotBefore }), "expires"},
		{"expires before not_before is refused", base(func(j *Job) { j.Expires = j.NotBefore.Add(-time.Second) }), "expires"},
		{"a missing expiry is refused", base(func(j *Job) { j.Expires = time.Time{} }), "expires"},
		{"a missing not_before is refused", base(func(j *Job) { j.NotBefore = time.Time{} }), "expires"},
		{"sequence 0 is refused", base(func(j *Job) { j.Seq = 0 }), "seq"},
		{"an empty host ID is refused", base(func(j *Job) { j.HostID = "" }), "host_id"},
		{"a host ID with a space is refused", base(func(j *Job) { j.HostID = "host 1" }), "host_id"},
		{"an empty job ID is refused", base(func(j *Job) { j.ID = "" }), "id"},
		{"a change ID with '/' is refused", base(func(j *Job) { j.ChangeID = "../x" }), "change_id"},
		{"an agent_update job with its release note is valid", base(func(j *Job) { *j = agentUpdate(j, []byte("patchbay-agent release\n")) }), ""},
		{"an agent_update job needs a release note", base(func(j *Job) { *j = agentUpdate(j, nil) }), "release"},
		{"a release note of 4096 bytes is valid", base(func(j *Job) { *j = agentUpdate(j, bytes.Repeat([]byte("a"), 4096)) }), ""},
		{"a release note of 4097 bytes is refused", base(func(j *Job) { *j = agentUpdate(j, bytes.Repeat([]byte("a"), 4097)) }), "release"},
		{"an agent_update job with packages is refused", base(func(j *Job) { j.Action, j.Name, j.Release = ActionAgentUpdate, "", []byte("x") }), "packages"},
		{"an agent_update job with a name is refused", base(func(j *Job) { *j = agentUpdate(j, []byte("x")); j.Name = "backup" }), "name"},
		{"a rollback agent_update is refused", base(func(j *Job) { *j = agentUpdate(j, []byte("x")); j.Rollback = true }), "rollback"},
		{"an install job carrying a release note is refused", base(func(j *Job) { j.Release = []byte("x") }), "release"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.job.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var ve *fielderr.Error
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a *fielderr.Error on %s", err, c.field)
			}
			if ve.Path != c.field {
				t.Fatalf("Validate blamed %q (%v), want %q", ve.Path, err, c.field)
			}
		})
	}
}

func TestParseJobKey(t *testing.T) {
	pub := testJobKey(t, 3).Public().(ed25519.PublicKey)
	got, err := ParseJobKey(base64.StdEncoding.EncodeToString(pub))
	if err != nil || !got.Equal(pub) {
		t.Fatalf("ParseJobKey = %x, %v; want %x", got, err, pub)
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(pub[:31])} {
		if _, err := ParseJobKey(bad); err == nil {
			t.Errorf("ParseJobKey(%q) accepted it", bad)
		}
	}
}

var (
	fuzzName    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9+._-]{0,254}$`)
	fuzzVersion = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+~:_-]{0,254}$`)
	fuzzArch    = regexp.MustCompile(`^[a-z0-9_]{0,32}$`)
	fuzzCommand = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	fuzzID      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)
)

// FuzzOpen signs arbitrary payloads with the pinned key, as a compromised
// server could, and checks that Open never returns a job outside the rules,
// checked here independently of Validate.
func FuzzOpen(f *testing.F) {
	files, _ := filepath.Glob("testdata/jobs/*.json")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":"j","host_id":"h","seq":1,"not_before":"2026-03-10T22:00:00Z","expires":"2026-03-10T23:00:00Z","action":"inventory"}`))
	key := testJobKey(f, 1)
	pub := key.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, payload []byte) {
		j, err := signRaw(key, payload).Open(pub)
		if err != nil {
			if errors.Is(err, ErrBadSignature) {
				t.Fatalf("validly signed payload reported as a bad signature: %v", err)
			}
			return
		}
		if err := j.Validate(); err != nil {
			t.Fatalf("Open accepted an invalid job: %v", err)
		}
		if j.ID == "" || j.HostID == "" || j.Seq == 0 || !j.Expires.After(j.NotBefore) {
			t.Fatalf("Open accepted a job without identity or validity: %+v", j)
		}
		switch j.Action {
		case ActionInstall:
			if len(j.Packages) == 0 || len(j.Packages) > MaxJobPackages {
				t.Fatalf("install with %d packages accepted", len(j.Packages))
			}
			for _, p := range j.Packages {
				if !fuzzName.MatchString(p.Name) || !fuzzVersion.MatchString(p.Version) || !fuzzArch.MatchString(p.Arch) {
					t.Fatalf("unsafe package accepted: %+v", p)
				}
			}
			if j.Name != "" && !fuzzCommand.MatchString(j.Name) {
				t.Fatalf("unsafe hook name accepted: %q", j.Name)
			}
		case ActionHook, ActionHealthCheck:
			if !fuzzCommand.MatchString(j.Name) || len(j.Packages) > 0 {
				t.Fatalf("bad %s job accepted: %+v", j.Action, j)
			}
		case ActionReboot, ActionRestartServices, ActionInventory:
			if j.Name != "" || len(j.Packages) > 0 || j.Rollback {
				t.Fatalf("bad %s job accepted: %+v", j.Action, j)
			}
		default:
			t.Fatalf("unknown action accepted: %q", j.Action)
		}
		env, err := SignJob(key, j)
		if err != nil {
			t.Fatalf("an accepted job cannot be signed again: %v", err)
		}
		if !bytes.Equal(env.Payload, payload) {
			t.Fatalf("accepted payload is not canonical:\n%q\n%q", payload, env.Payload)
		}
	})
}

// FuzzJobFields builds jobs from arbitrary field values, encodes them
// without validation and signs them with the pinned key, so the fuzzer
// reaches Validate with well-formed JSON; Open must accept exactly the jobs
// whose fields follow the rules.
func FuzzJobFields(f *testing.F) {
	f.Add("install", "pre-snapshot", "openssl", "3.0.15-1~deb12u1", "amd64", "host-1", uint64(7), false)
	f.Add("install", "", "-oAPT::Update::Pre-Invoke::=id", "1.0", "", "host-1", uint64(7), true)
	f.Add("hook", "db_backup", "", "", "", "host-1", uint64(1), false)
	f.Add("restart_services", "", "", "", "", "host-1", uint64(2), false)
	f.Add("restart_services", "ssh.service", "", "", "", "host-1", uint64(2), false)
	f.Add("exec", "rm", "openssl;id", "$(id)", "AMD64", "host 1", uint64(0), false)
	key := testJobKey(f, 1)
	pub := key.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, action, name, pkg, version, arch, host string, seq uint64, rollback bool) {
		j := Job{ID: "j", HostID: host, Seq: seq, NotBefore: jobTime, Expires: jobTime.Add(time.Hour),
			Action: Action(action), Name: name, Rollback: rollback}
		if pkg != "" || version != "" {
			j.Packages = []JobPackage{{Name: pkg, Arch: arch, Version: version}}
		}
		payload, err := json.Marshal(j)
		if err != nil {
			return
		}
		got, err := signRaw(key, payload).Open(pub)
		wantOK := seq > 0 && host != "" && len(host) <= 128 && fuzzID.MatchString(host)
		switch Action(action) {
		case ActionInstall:
			wantOK = wantOK && len(j.Packages) == 1 && fuzzName.MatchString(pkg) && fuzzVersion.MatchString(version) &&
				fuzzArch.MatchString(arch) && (name == "" || fuzzCommand.MatchString(name))
		case ActionHook, ActionHealthCheck:
			wantOK = wantOK && len(j.Packages) == 0 && fuzzCommand.MatchString(name) && !rollback
		case ActionReboot, ActionRestartServices, ActionInventory:
			wantOK = wantOK && len(j.Packages) == 0 && name == "" && !rollback
		default:
			wantOK = false
		}
		if wantOK != (err == nil) {
			t.Fatalf("Open(%s) = %+v, %v; want ok=%v", payload, got, err, wantOK)
		}
	})
}
