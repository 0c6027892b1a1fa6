package server

import (
	"context"
	"errors"
	"fmt"
	"github.com/patchbay/patchbay/internal/api"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/patchbay/patchbay/internal/fielderr"
	"github.com/patchbay/patchbay/internal/notify"
	"github.com/patchbay/patchbay/internal/policy"
	"github.com/patchbay/patchbay/internal/schedule"
	"github.com/patchbay/patchbay/internal/store"
)

// orgState is the applied organisation, cached.
type orgState struct {
	mu   sync.RWMutex
	rev  int64
	org  *policy.Org
	yaml string
}

func (o *orgState) get() (int64, *policy.Org) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.rev, o.org
}

func (o *orgState) set(rev int64, org *policy.Org, yaml string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rev, o.org, o.yaml = rev, org, yaml
}

// loadOrg reads the applied organisation from the store.
func (s *Server) loadOrg(ctx context.Context) error {
	cur, err := s.store.CurrentOrg(ctx)
	if errors.Is(err, store.ErrNotFound) {
		s.org.set(0, &policy.Org{}, "")
		return nil
	}
	if err != nil {
		return err
	}
	org, err := policy.Parse([]byte(cur.YAML))
	if err != nil {
		return fmt.Errorf("stored organisation revision %d: %w", cur.Revision, err)
	}
	s.org.set(cur.Revision, org, cur.YAML)
	return nil
}

// toWindow turns a window as written into the schedule's.
func toWindow(w policy.WindowSpec) schedule.Window {
	return schedule.Window{Name: w.Name, RRule: w.RRule, Start: w.Start, Duration: w.Duration, TZ: w.TZ,
		OffsetDays: w.OffsetDays, MaxRandomDelay: w.MaxRandomDelay}
}

// freezesFor returns the freezes that apply to a team: global ones and the
// team's own.
func freezesFor(org *policy.Org, team string) []schedule.Freeze {
	var out []schedule.Freeze
	for _, f := range org.Freezes {
		if f.Scope == policy.ScopeGlobal || f.Scope == "team:"+team {
			out = append(out, schedule.Freeze{Name: f.Name, Start: f.Start, End: f.End, Reason: f.Reason, Scope: f.Scope})
		}
	}
	return out
}

func hostInfo(h store.Host) policy.HostInfo {
	return policy.HostInfo{ID: h.ID, Hostname: h.Hostname, HostnameShared: h.HostnameShared, Labels: h.EffectiveLabels()}
}

// hostInfos lists every active host as group selectors and policy
// resolution see it: ID, hostname and effective labels.
func (s *Server) hostInfos(ctx context.Context) ([]policy.HostInfo, error) {
	hosts, err := s.store.ListHostLabels(ctx)
	if err != nil {
		return nil, err
	}
	infos := make([]policy.HostInfo, len(hosts))
	for i, h := range hosts {
		infos[i] = hostInfo(h)
	}
	return infos, nil
}

// allHosts lists every active host.
func (s *Server) allHosts(ctx context.Context) ([]store.Host, error) {
	var out []store.Host
	f := store.HostFilter{Limit: 1000}
	for {
		hs, next, err := s.store.ListHosts(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, hs...)
		if next == "" {
			return out, nil
		}
		f.After = next
	}
}

// OrgApplyResult is the answer to apply.
type OrgApplyResult struct {
	Revision int64           `json:"revision"`
	DryRun   bool            `json:"dry_run"`
	Changes  []policy.Change `json:"changes"`
	Warnings []string        `json:"warnings,omitempty"`
}

// handleApplyOrg applies an organisation (YAML) as a whole: it is parsed
// strictly and validated completely before anything is stored, and stored
// in one step, so a bad file changes nothing. Objects missing from the
// file are deleted only with ?prune=true.
func (s *Server) handleApplyOrg(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<20))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	dryRun, prune := q.Get("dry_run") == "true", q.Get("prune") == "true"
	desired, err := policy.Parse(body)
	if err != nil {
		return errBadRequest(err.Error())
	}
	ctx := r.Context()
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, u := range users {
		known[u.Username] = true
	}
	now := s.now()
	err = desired.Validate(policy.Hooks{
		ValidateWindow: func(w policy.WindowSpec) error { return toWindow(w).Validate() },
		KnownUser:      func(name string) bool { return known[name] },
	})
	problems := fielderr.List{What: "policy", Problems: fielderr.Problems(err)}
	if nerr := notify.CheckSubscriptions(desired, s.notify.channelNames()); nerr != nil {
		problems.Problems = append(problems.Problems, fielderr.Within("", nerr)...)
	}
	if eerr := notify.CheckEscalation(desired); eerr != nil {
		problems.Problems = append(problems.Problems, fielderr.Within("", eerr)...)
	}
	for i, g := range desired.Groups {
		var ws []schedule.Window
		for _, spec := range g.Windows {
			ws = append(ws, toWindow(spec))
		}
		if len(ws) > 1 && err == nil {
			if oerr := schedule.Overlaps(ws, now, now.AddDate(1, 0, 0)); oerr != nil {
				problems.Problems = append(problems.Problems, fielderr.Within(fmt.Sprintf("groups[%d]", i), oerr)...)
			}
		}
	}
	if err := problems.Err(); err != nil {
		return err
	}
	base, current := s.org.get()
	changes := policy.Diff(current, desired)
	var deletes []string
	for _, c := range changes {
		if c.Kind == policy.ChangeDelete {
			deletes = append(deletes, c.Object+" "+c.Name)
		}
	}
	res := OrgApplyResult{Revision: base, DryRun: dryRun, Changes: changes}
	if res.Changes == nil {
		res.Changes = []policy.Change{}
	}
	infos, err := s.hostInfos(ctx)
	if err != nil {
		return err
	}
	for _, g := range desired.MatchesNothing(infos) {
		res.Warnings = append(res.Warnings, fmt.Sprintf("group %s selects no host", g))
	}
	res.Warnings = append(res.Warnings, desired.AmbiguousHosts(infos)...)
	if len(deletes) > 0 && !prune {
		if dryRun {
			res.Warnings = append(res.Warnings, "apply would refuse to delete "+strings.Join(deletes, ", ")+" without --prune")
			return writeJSON(w, 200, res)
		}
		return &Error{http.StatusConflict, "prune_required", fmt.Sprintf("the file leaves out %s; apply with --prune to delete them, or add them to the file", strings.Join(deletes, ", "))}
	}
	if dryRun || len(changes) == 0 {
		return writeJSON(w, 200, res)
	}
	canon, err := policy.Marshal(desired)
	if err != nil {
		return err
	}
	summary := fmt.Sprintf("%d changes", len(changes))
	// ApplyOrg stores revision base+1 or refuses.
	setAuditDiff(ctx, map[string]any{"revision": base}, map[string]any{"revision": base + 1, "changes": changes})
	auditSummary(ctx, "organisation revision %d applied over revision %d: %s", base+1, base, describeOrgChanges(changes))
	rev, err := s.store.ApplyOrg(ctx, base, string(canon), principalName(ctx, s), summary, now)
	if errors.Is(err, store.ErrConflict) {
		return &Error{http.StatusConflict, "conflict", "the organisation changed while this apply ran; apply again"}
	}
	if err != nil {
		return err
	}
	s.org.set(rev, desired, string(canon))
	res.Revision = rev
	s.log.Info("organisation applied", "revision", rev, "changes", len(changes), "by", principalName(ctx, s))
	// Criticality, exposure and SLA policy may have changed.
	if _, err := s.store.Rescore(ctx, "", s.vulns.score); err != nil {
		return err
	}
	if err := s.applyExceptions(ctx); err != nil {
		return err
	}
	return writeJSON(w, 200, res)
}

// principalName is the username behind the request, or the token ID.
func principalName(ctx context.Context, s *Server) string {
	p := principalFrom(ctx)
	if p.UserID != "" {
		if u, err := s.store.GetUser(ctx, p.UserID); err == nil {
			return u.Username
		}
	}
	return "token:" + p.TokenID
}

func (s *Server) handleExportOrg(w http.ResponseWriter, r *http.Request) error {
	_, org := s.org.get()
	b, err := policy.Marshal(org)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/yaml")
	_, err = w.Write(b)
	return err
}

// GroupView is a group with its hosts.
type GroupView struct {
	policy.Group `json:"group"`
	Hosts        []string              `json:"hosts"` // host IDs
	Hostnames    []string              `json:"hostnames"`
	NextWindows  []schedule.Occurrence `json:"next_windows,omitempty"`
}

func (s *Server) groupView(ctx context.Context, org *policy.Org, g policy.Group, hosts []policy.HostInfo, n int) (GroupView, error) {
	v := GroupView{Group: g, Hosts: []string{}, Hostnames: []string{}}
	for _, h := range hosts {
		if g.Selector.Selects(h) {
			v.Hosts = append(v.Hosts, h.ID)
			v.Hostnames = append(v.Hostnames, h.Hostname)
		}
	}
	if n > 0 && len(g.Windows) > 0 {
		var ws []schedule.Window
		for _, spec := range g.Windows {
			ws = append(ws, toWindow(spec))
		}
		occ, err := schedule.Next(ws, freezesFor(org, g.Team), s.now(), n)
		if err != nil {
			return v, err
		}
		v.NextWindows = occ
	}
	return v, nil
}

func (s *Server) handleListGroups(w http.ResponseWriter, r *http.Request) error {
	_, org := s.org.get()
	hosts, err := s.hostInfos(r.Context())
	if err != nil {
		return err
	}
	out := make([]GroupView, 0, len(org.Groups))
	for _, g := range org.Groups {
		v, err := s.groupView(r.Context(), org, g, hosts, 0)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	return writeJSON(w, 200, map[string]any{"items": out, "total": len(out)})
}

func (s *Server) findGroup(org *policy.Org, name string) (policy.Group, error) {
	for _, g := range org.Groups {
		if g.Name == name {
			return g, nil
		}
	}
	return policy.Group{}, &Error{http.StatusNotFound, "not_found", fmt.Sprintf("no group %q", name)}
}

func (s *Server) handleGetGroup(w http.ResponseWriter, r *http.Request) error {
	_, org := s.org.get()
	g, err := s.findGroup(org, r.PathValue("name"))
	if err != nil {
		return err
	}
	hosts, err := s.hostInfos(r.Context())
	if err != nil {
		return err
	}
	n, err := queryInt(r, "windows", 5, 100)
	if err != nil {
		return err
	}
	v, err := s.groupView(r.Context(), org, g, hosts, n)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, v)
}

// HostWindow is one coming window of a host, with its own start delay.
type HostWindow struct {
	Window     string    `json:"window"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	HostStart  time.Time `json:"host_start"` // start plus this host's random delay
	Groups     []string  `json:"groups"`
	FrozenNote string    `json:"note,omitempty"`
}

// handleHostWindows answers "when may this host be patched next": the
// union of its groups' windows minus the freezes of its teams.
func (s *Server) handleHostWindows(w http.ResponseWriter, r *http.Request) error {
	h, err := s.store.GetHost(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	n, err := queryInt(r, "n", 5, 100)
	if err != nil {
		return err
	}
	_, org := s.org.get()
	eff := org.Effective(hostInfo(h))
	var ws []schedule.Window
	byName := map[string]schedule.Window{}
	for _, spec := range eff.Windows {
		sw := toWindow(spec)
		ws = append(ws, sw)
		byName[sw.Name] = sw
	}
	var freezes []schedule.Freeze
	for _, t := range eff.Teams {
		freezes = append(freezes, freezesFor(org, t)...)
	}
	out := []HostWindow{}
	if len(ws) > 0 {
		occ, err := schedule.Next(ws, dedupFreezes(freezes), s.now(), n)
		if err != nil {
			return err
		}
		for _, o := range occ {
			d := schedule.HostDelay(byName[o.Window], h.ID, o)
			out = append(out, HostWindow{Window: o.Window, Start: o.Start, End: o.End, HostStart: o.Start.Add(d), Groups: eff.Groups})
		}
	}
	return writeJSON(w, 200, map[string]any{"host": h.ID, "groups": eff.Groups, "team": eff.Team, "items": out})
}

func dedupFreezes(fs []schedule.Freeze) []schedule.Freeze {
	seen := map[string]bool{}
	var out []schedule.Freeze
	for _, f := range fs {
		if !seen[f.Name] {
			seen[f.Name] = true
			out = append(out, f)
		}
	}
	return out
}

// calendarEvents builds a team's or group's calendar: windows over the
// next 90 days (and the last 7), and the freezes that apply.
func (s *Server) calendarEvents(org *policy.Org, scope, name string) ([]schedule.CalendarEvent, error) {
	now := s.now()
	return calendarEventsBetween(org, scope, name, now.AddDate(0, 0, -7), now.AddDate(0, 0, 90))
}

// calendarEventsBetween builds a team's or group's calendar over [from, to):
// its windows' occurrences and the freezes that apply.
func calendarEventsBetween(org *policy.Org, scope, name string, from, to time.Time) ([]schedule.CalendarEvent, error) {
	var events []schedule.CalendarEvent
	team := name
	found := false
	for _, g := range org.Groups {
		if (scope == "team" && g.Team == name) || (scope == "group" && g.Name == name) {
			found = true
			team = g.Team
			for _, spec := range g.Windows {
				evs, err := schedule.WindowEvents(toWindow(spec), g.Name, from, to)
				if err != nil {
					return nil, err
				}
				for i := range evs {
					if evs[i].Owner == "" {
						evs[i].Owner = g.Sysadmin
					}
					evs[i].Description = strings.TrimSpace(evs[i].Description + fmt.Sprintf("\nGroup %s (team %s), stakeholder %s, sysadmin %s.", g.Name, g.Team, g.Stakeholder, g.Sysadmin))
				}
				events = append(events, evs...)
			}
		}
	}
	if scope == "team" {
		for _, t := range org.Teams {
			if t.Name == name {
				found = true
			}
		}
	}
	if !found {
		return nil, &Error{http.StatusNotFound, "not_found", fmt.Sprintf("no %s %q", scope, name)}
	}
	for _, f := range freezesFor(org, team) {
		if f.End.After(from) && f.Start.Before(to) {
			events = append(events, schedule.FreezeEvent(f))
		}
	}
	return events, nil
}

// handleCalendarICS serves a calendar at its secret URL.
func (s *Server) handleCalendarICS(w http.ResponseWriter, r *http.Request) error {
	token := strings.TrimSuffix(r.PathValue("token"), ".ics")
	c, err := s.store.CalendarFeedByHash(r.Context(), HashSecret(token))
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.RevokedAt != nil) {
		return &Error{http.StatusNotFound, "not_found", "no such calendar (the link may have been revoked)"}
	}
	if err != nil {
		return err
	}
	_, org := s.org.get()
	events, err := s.calendarEvents(org, c.Scope, c.Name)
	if err != nil {
		return err
	}
	b, err := schedule.ICS("Patchbay: "+c.Scope+" "+c.Name, events, s.now())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
	_, err = w.Write(b)
	return err
}

// CalendarView is a calendar subscription as listed.
type CalendarView = api.Calendar

func (s *Server) handleCreateCalendar(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Scope string `json:"scope"`
		Name  string `json:"name"`
	}
	if err := decodeJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	c, path, err := s.createCalendar(r.Context(), req.Scope, req.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, CalendarView{ID: c.ID, Scope: c.Scope, Name: c.Name, CreatedBy: c.CreatedBy,
		CreatedAt: c.CreatedAt, URL: "https://" + r.Host + path})
}

// createCalendar makes a secret calendar URL for a team or group as the
// caller in ctx and returns it with its path, /calendar/SECRET.ics (only a
// hash of the secret is kept). The API and the console call it.
func (s *Server) createCalendar(ctx context.Context, scope, name string) (store.CalendarFeed, string, error) {
	if scope != "team" && scope != "group" {
		return store.CalendarFeed{}, "", errBadRequest("scope must be team or group")
	}
	_, org := s.org.get()
	if _, err := s.calendarEvents(org, scope, name); err != nil {
		return store.CalendarFeed{}, "", err
	}
	token := randomSecret("pbc_", 24)
	c := store.CalendarFeed{ID: uuid.NewString(), Scope: scope, Name: name, TokenHash: HashSecret(token),
		CreatedBy: principalName(ctx, s), CreatedAt: s.now()}
	auditSummary(ctx, "calendar URL %s created for %s %s", c.ID, scope, name)
	if err := s.store.CreateCalendarFeed(ctx, c); err != nil {
		return store.CalendarFeed{}, "", err
	}
	return c, "/calendar/" + token + ".ics", nil
}

func (s *Server) handleListCalendars(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.store.ListCalendarFeeds(r.Context())
	if err != nil {
		return err
	}
	out := make([]CalendarView, 0, len(cs))
	for _, c := range cs {
		out = append(out, CalendarView{ID: c.ID, Scope: c.Scope, Name: c.Name, CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, RevokedAt: c.RevokedAt})
	}
	return writeJSON(w, 200, map[string]any{"items": out, "total": len(out)})
}

func (s *Server) handleRevokeCalendar(w http.ResponseWriter, r *http.Request) error {
	if err := s.revokeCalendar(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	return writeJSON(w, 200, map[string]string{"status": "revoked"})
}

// hostContext is what scoring needs from the organisation for one host.
func (s *Server) hostContext(labels map[string]string, hostID, hostname string, hostnameShared bool) policy.Effective {
	_, org := s.org.get()
	return org.Effective(policy.HostInfo{ID: hostID, Hostname: hostname, HostnameShared: hostnameShared, Labels: labels})
}

// describeOrgChanges says what an apply changes, for its audit entry:
// "group web created; ring canary updated (soak, hosts)".
func describeOrgChanges(cs []policy.Change) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		p := c.Object + " " + c.Name + " " + c.Kind + "d"
		if len(c.Fields) > 0 {
			p += " (" + strings.Join(c.Fields, ", ") + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}
