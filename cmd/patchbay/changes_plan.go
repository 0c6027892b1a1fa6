package main

import (
	"fmt"
	"io"
	"strings"
)

// planHostView is one host a change's plan considered, as the API's
// ChangeView.review has it.
type planHostView struct {
	HostID   string `json:"host_id"`
	Hostname string `json:"hostname"`
	Group    string `json:"group"`
	Ring     string `json:"ring"`
	Tier     string `json:"tier"`
	Status   string `json:"status"`
	Reason   string `json:"reason"`
	Targets  []struct {
		Name, Arch, Installed, Version, Offered, Advisory, Status, Reason string
	} `json:"targets"`
}

// printPlan prints a change's plan: one row per host by hostname, with its
// ring and reboot tier by name, what it gets, and whether it is planned or
// why not (excluded, not-offered, downgrade-refused); then the reasons.
func printPlan(out io.Writer, v changeView) error {
	status, names := map[string]string{}, map[string]string{}
	for _, h := range v.Hosts {
		status[h.HostID] = strings.TrimSpace(h.Status + " " + h.Phase + " " + h.Detail)
		names[h.HostID] = h.Hostname
	}
	after := map[string]string{}
	for _, h := range v.Plan.Hosts {
		after[h.HostID] = afterPatch(h.NeedsReboot, h.RestartOnly)
	}
	t := newTable(out, "RING", "GROUP", "HOST", "TIER", "PLAN", "TARGETS", "AFTER PATCH", "STATUS")
	if len(v.Review) == 0 {
		// A change planned before plans kept their review.
		for _, h := range v.Plan.Hosts {
			var ts []string
			for _, x := range h.Targets {
				ts = append(ts, x.Name+"="+x.Version)
			}
			ring := fmt.Sprint(h.Ring)
			if h.Ring < len(v.Plan.Rings) {
				ring = v.Plan.Rings[h.Ring]
			}
			host := h.HostID // a hostname when the change has started
			if names[h.HostID] != "" {
				host = names[h.HostID]
			}
			t.row(ring, h.Group, host, fmt.Sprintf("tier %d", h.Tier+1), "planned", strings.Join(ts, " "), after[h.HostID], status[h.HostID])
		}
		return t.flush()
	}
	var notes []string
	for _, h := range v.Review {
		var ts []string
		for _, x := range h.Targets {
			s := x.Name + "=" + x.Version
			if x.Status != "planned" && h.Status == "planned" {
				s += " (" + x.Status + ")"
			}
			ts = append(ts, s)
		}
		a := after[h.HostID]
		if h.Status != "planned" {
			a = "-"
		}
		t.row(h.Ring, h.Group, h.Hostname, dash(h.Tier), h.Status, strings.Join(ts, " "), a, status[h.HostID])
		if h.Reason != "" {
			notes = append(notes, h.Hostname+": "+h.Reason)
		}
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(out, inert("WHY "+n))
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
