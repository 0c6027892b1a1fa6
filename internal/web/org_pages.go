package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Permissions of the organisation pages, named like the API's.
const (
	permOrgRead           = "org:read"
	permCalendars         = "calendars:manage"
	permExceptionsRead    = "exceptions:read"
	permExceptionsRequest = "exceptions:request"
	permExceptionsApprove = "exceptions:approve"
	permKBRead            = "kb:read"
	permKBWrite           = "kb:write"
)

// orgRoutes are the routes of the groups, calendar, exceptions and
// knowledge-base pages; routes() puts them in the one table.
func (c *console) orgRoutes() []route {
	return []route{
		{method: "GET", pattern: "/groups", perm: permOrgRead, h: c.groupList},
		{method: "GET", pattern: "/groups/{name}", perm: permOrgRead, h: c.groupDetail},
		{method: "GET", pattern: "/calendar", perm: permOrgRead, h: c.calendar},
		{method: "GET", pattern: "/calendars", perm: permCalendars, h: c.calendarFeeds},
		{method: "POST", pattern: "/calendars", perm: permCalendars, h: c.createCalendarFeed},
		{method: "POST", pattern: "/calendars/{id}/revoke", perm: permCalendars, h: c.revokeCalendarFeed},
		{method: "GET", pattern: "/exceptions", perm: permExceptionsRead, h: c.exceptionList},
		{method: "GET", pattern: "/exceptions/new", perm: permExceptionsRequest, h: c.newExceptionForm},
		{method: "POST", pattern: "/exceptions/new", perm: permExceptionsRequest, h: c.requestException},
		{method: "POST", pattern: "/exceptions/{id}/approve", perm: permExceptionsApprove, h: c.exceptionAction("approve")},
		{method: "POST", pattern: "/exceptions/{id}/revoke", perm: permExceptionsRequest, h: c.exceptionAction("revoke")},
		{method: "GET", pattern: "/kb", perm: permKBRead, h: c.kbList},
		{method: "GET", pattern: "/kb/new", perm: permKBWrite, h: c.newKBForm},
		{method: "POST", pattern: "/kb/new", perm: permKBWrite, h: c.saveKB},
		{method: "GET", pattern: "/kb/{id}", perm: permKBRead, h: c.kbDetail},
		{method: "GET", pattern: "/kb/{id}/edit", perm: permKBWrite, h: c.editKBForm},
		{method: "POST", pattern: "/kb/{id}/edit", perm: permKBWrite, h: c.saveKB},
	}
}

// groupWindows is how many coming windows a group's page shows.
const groupWindows = 5

func (c *console) groupList(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	groups, err := c.b.OrgGroups(r.Context())
	if err != nil {
		return err
	}
	c.render(w, r, rc, http.StatusOK, "groups.html", "Groups", groups)
	return nil
}

func (c *console) groupDetail(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	name := r.PathValue("name")
	if len(name) > maxGroupLen {
		return errNotFoundPage
	}
	g, err := c.b.OrgGroup(r.Context(), name, groupWindows)
	if err != nil {
		return err
	}
	c.render(w, r, rc, http.StatusOK, "group.html", "Group "+g.Name, g)
	return nil
}

// calendarView is a month (or one week) of the patch calendar.
type calendarView struct {
	Title     string // "November 2026" or "Week of 2026-11-23"
	Week      bool
	Weeks     [][]calendarDay
	PrevURL   string
	NextURL   string
	OtherURL  string // the week view of the month's first week, or the month of the week
	TodayURL  string
	Events    int
	CanManage bool // the user may manage calendar subscriptions
}

type calendarDay struct {
	Date    time.Time
	InRange bool // in the month shown (always, in the week view)
	Today   bool
	Events  []CalendarEvent
}

// parseCalendarRange reads ?month=YYYY-MM or ?week=YYYY-MM-DD (any day of
// the week; the week starts on Monday). The default is the current month.
func parseCalendarRange(v url.Values, now time.Time) (from, to time.Time, week bool, err error) {
	now = now.UTC()
	switch {
	case v.Get("week") != "":
		d, perr := time.Parse("2006-01-02", v.Get("week"))
		if perr != nil || d.Year() < 2000 || d.Year() > 2200 {
			return from, to, false, badField("week", "must be a date YYYY-MM-DD")
		}
		from = mondayOf(d)
		return from, from.AddDate(0, 0, 7), true, nil
	case v.Get("month") != "":
		m, perr := time.Parse("2006-01", v.Get("month"))
		if perr != nil || m.Year() < 2000 || m.Year() > 2200 {
			return from, to, false, badField("month", "must be a month YYYY-MM")
		}
		from = m
	default:
		from = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return from, from.AddDate(0, 1, 0), false, nil
}

// mondayOf is the Monday (UTC midnight) of t's week.
func mondayOf(t time.Time) time.Time {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
}

func (c *console) calendar(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	now := c.opt.Now().UTC()
	from, to, week, err := parseCalendarRange(r.URL.Query(), now)
	if err != nil {
		return err
	}
	// The grid runs Monday to Sunday over whole weeks.
	gridFrom, gridTo := mondayOf(from), mondayOf(to.AddDate(0, 0, -1)).AddDate(0, 0, 7)
	events, err := c.b.CalendarEvents(r.Context(), gridFrom, gridTo)
	if err != nil {
		return err
	}
	slices.SortStableFunc(events, func(a, b CalendarEvent) int { return a.Start.Compare(b.Start) })
	v := calendarView{Week: week, CanManage: c.b.Allowed(rc.user, permCalendars)}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	for d := gridFrom; d.Before(gridTo); d = d.AddDate(0, 0, 7) {
		var row []calendarDay
		for i := range 7 {
			day := d.AddDate(0, 0, i)
			cd := calendarDay{Date: day, InRange: !day.Before(from) && day.Before(to), Today: day.Equal(today)}
			for _, e := range events {
				if e.Start.Before(day.AddDate(0, 0, 1)) && e.End.After(day) {
					cd.Events = append(cd.Events, e)
				}
			}
			if cd.InRange {
				v.Events += len(cd.Events)
			}
			row = append(row, cd)
		}
		v.Weeks = append(v.Weeks, row)
	}
	if week {
		v.Title = "Week of " + from.Format("Monday 2 January 2006")
		v.PrevURL = "/calendar?week=" + from.AddDate(0, 0, -7).Format("2006-01-02")
		v.NextURL = "/calendar?week=" + from.AddDate(0, 0, 7).Format("2006-01-02")
		v.OtherURL = "/calendar?month=" + from.Format("2006-01")
		v.TodayURL = "/calendar?week=" + today.Format("2006-01-02")
	} else {
		v.Title = from.Format("January 2006")
		v.PrevURL = "/calendar?month=" + from.AddDate(0, -1, 0).Format("2006-01")
		v.NextURL = "/calendar?month=" + to.Format("2006-01")
		wk := from
		if !today.Before(from) && today.Before(to) {
			wk = today
		}
		v.OtherURL = "/calendar?week=" + wk.Format("2006-01-02")
		v.TodayURL = "/calendar"
	}
	c.render(w, r, rc, http.StatusOK, "calendar.html", "Calendar "+v.Title, v)
	return nil
}

// calendarFeedsView lists the subscriptions and the form to make one.
type calendarFeedsView struct {
	Feeds   []CalendarFeed
	Teams   []string
	Groups  []string
	Scope   string // the form's choice, kept on error
	Name    string
	Error   string
	Done    string
	NewURL  string // the secret URL just created: shown once
	NewFeed CalendarFeed
}

func (c *console) calendarFeeds(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	v := calendarFeedsView{}
	if r.URL.Query().Get("done") == "revoke" {
		v.Done = "Calendar URL revoked: calendar programs subscribed to it get nothing from now on."
	}
	return c.renderCalendarFeeds(w, r, rc, http.StatusOK, v)
}

func (c *console) renderCalendarFeeds(w http.ResponseWriter, r *http.Request, rc *reqCtx, status int, v calendarFeedsView) error {
	var err error
	if v.Feeds, err = c.b.CalendarFeeds(r.Context()); err != nil {
		return err
	}
	if v.Teams, v.Groups, err = c.b.CalendarTargets(r.Context()); err != nil {
		return err
	}
	c.render(w, r, rc, status, "calendars.html", "Calendar subscriptions", v)
	return nil
}

// createCalendarFeed makes a secret calendar URL and shows it once, in this
// response: it is never put in a redirect or a later page.
func (c *console) createCalendarFeed(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if err := r.ParseForm(); err != nil {
		return errStatus(http.StatusBadRequest, "The form could not be read: %v.", err)
	}
	teams, groups, err := c.b.CalendarTargets(r.Context())
	if err != nil {
		return err
	}
	// One select names both: "team:NAME" or "group:NAME".
	target := r.PostForm.Get("target")
	scope, name, _ := strings.Cut(target, ":")
	v := calendarFeedsView{Scope: scope, Name: name}
	switch {
	case target == "":
		v.Error = "Choose the team or group the calendar is for."
	case scope == "team" && slices.Contains(teams, name), scope == "group" && slices.Contains(groups, name):
	default:
		v.Error = "There is no such team or group; choose one from the list."
	}
	if v.Error != "" {
		return c.renderCalendarFeeds(w, r, rc, http.StatusBadRequest, v)
	}
	feed, path, err := c.b.CreateCalendarFeed(r.Context(), rc.user, scope, name)
	if err != nil {
		if userError(err) {
			v.Error = err.Error()
			return c.renderCalendarFeeds(w, r, rc, http.StatusUnprocessableEntity, v)
		}
		return err
	}
	v.NewFeed, v.NewURL = feed, c.absoluteURL(r, path)
	v.Scope, v.Name = "", ""
	return c.renderCalendarFeeds(w, r, rc, http.StatusCreated, v)
}

func (c *console) revokeCalendarFeed(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if err := c.b.RevokeCalendarFeed(r.Context(), rc.user, r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/calendars?done=revoke", http.StatusSeeOther)
	return nil
}

// absoluteURL is path on the host the user reached the console at.
func (c *console) absoluteURL(r *http.Request, path string) string {
	scheme := "http"
	if c.opt.Secure || r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}

// formatDuration writes d without zero units: 4h, 1h30m, 45m.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
