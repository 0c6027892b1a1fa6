package change

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/internal/rollout"
)

// Content is what an approver reviews: the plan (hosts, exact versions,
// rings, windows, batches, budget, soak, health checks, per-host reboot or
// restart) and the change's start and reboot policy.
type Content struct {
	Plan          rollout.Plan
	Start         string // "", "next-window" or an RFC 3339 time
	Reboot        string // the change's reboot policy
	IgnoreWindows bool
}

// canonical is Content in a fixed order: hosts by ID, targets by name and
// architecture, windows by group and time, times in UTC. JSON of it (struct
// fields in declaration order, no maps) is the canonical encoding.
type canonical struct {
	V             int            `json:"v"`
	Rings         []string       `json:"rings"`
	Hosts         []canonHost    `json:"hosts"`
	Windows       []canonWindows `json:"windows"`
	BatchSize     int            `json:"batch_size"`
	BatchPercent  int            `json:"batch_percent"`
	Budget        int            `json:"failure_budget"`
	BudgetPercent int            `json:"failure_percent"`
	Soak          int64          `json:"soak_ns"`
	JobTimeout    int64          `json:"job_timeout_ns"`
	HealthChecks  []string       `json:"health_checks"`
	AutoRollback  bool           `json:"auto_rollback"`
	Start         string         `json:"start"`
	Reboot        string         `json:"reboot"`
	IgnoreWindows bool           `json:"ignore_windows"`
}

type canonHost struct {
	ID          string           `json:"id"`
	Group       string           `json:"group"`
	Platform    string           `json:"platform"`
	Ring        int              `json:"ring"`
	Tier        int              `json:"tier"`
	Targets     []rollout.Target `json:"targets"`
	NeedsReboot bool             `json:"needs_reboot"`
	RestartOnly []string         `json:"restart_only"`
}

type canonWindows struct {
	Group   string      `json:"group"`
	Windows [][2]string `json:"windows"`
}

// Digest is the hex SHA-256 of the canonical encoding of c. Two contents
// that differ in anything an approver was shown have different digests;
// the order hosts, targets or windows are stored in does not matter.
func (c Content) Digest() string {
	p := c.Plan
	k := canonical{V: 1, Rings: p.Rings, BatchSize: p.BatchSize, BatchPercent: p.BatchPercent, Budget: p.FailureBudget,
		BudgetPercent: p.FailurePercent, Soak: int64(p.Soak), JobTimeout: int64(p.JobTimeout),
		HealthChecks: slices.Sorted(slices.Values(p.HealthChecks)), AutoRollback: p.AutoRollback,
		Start: c.Start, Reboot: c.Reboot, IgnoreWindows: c.IgnoreWindows}
	for _, h := range p.Hosts {
		ts := slices.Clone(h.Targets)
		slices.SortFunc(ts, func(a, b rollout.Target) int {
			return strings.Compare(a.Name+"\x00"+a.Arch+"\x00"+a.Version, b.Name+"\x00"+b.Arch+"\x00"+b.Version)
		})
		k.Hosts = append(k.Hosts, canonHost{ID: h.HostID, Group: h.Group, Platform: h.Platform, Ring: h.Ring, Tier: h.Tier,
			Targets: ts, NeedsReboot: h.NeedsReboot, RestartOnly: slices.Sorted(slices.Values(h.RestartOnly))})
	}
	slices.SortFunc(k.Hosts, func(a, b canonHost) int { return strings.Compare(a.ID, b.ID) })
	for _, g := range slices.Sorted(maps.Keys(p.Windows)) {
		cw := canonWindows{Group: g}
		for _, w := range p.Windows[g] {
			cw.Windows = append(cw.Windows, [2]string{w.Start.UTC().Format(time.RFC3339Nano), w.End.UTC().Format(time.RFC3339Nano)})
		}
		slices.SortFunc(cw.Windows, func(a, b [2]string) int { return strings.Compare(a[0]+a[1], b[0]+b[1]) })
		k.Windows = append(k.Windows, cw)
	}
	b, err := json.Marshal(k)
	if err != nil {
		panic("change: canonical content does not encode: " + err.Error()) // plain values only; cannot happen
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
