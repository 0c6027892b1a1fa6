package server

import (
	"time"

	"github.com/patchbay/patchbay/internal/api"
	"github.com/patchbay/patchbay/internal/rollout"
	"github.com/patchbay/patchbay/internal/store"
)

// These turn the engine's and the store's records into the API's
// snake_case shapes (internal/api), so no Go field name (HostID, KBID,
// Status) reaches a client.

func changeSummaryView(s rollout.Summary) *api.ChangeSummary {
	return &api.ChangeSummary{Status: string(s.Status), Reason: s.Reason, Wave: s.Wave, Ring: s.Ring, Hosts: s.Hosts, Pending: s.Pending,
		InFlight: s.InFlight, Succeeded: s.Succeeded, Failed: s.Failed, RolledBack: s.RolledBack, Budget: s.Budget, BatchLimit: s.BatchLimit,
		RollingBack: s.RollingBack, RollbackFailed: s.RollbackFailed, Excluded: s.Excluded, Held: s.Held, Waves: s.Waves, WaveNumber: s.WaveNumber}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func changeHostView(h rollout.HostView, hostname string) api.ChangeHost {
	v := api.ChangeHost{HostID: h.HostID, Hostname: hostname, Ring: h.Ring, Group: h.Group, Tier: h.Tier, Status: string(h.Status),
		Phase: string(h.Phase), Dispatched: h.Dispatched, DispatchedAt: timePtr(h.DispatchedAt), Deadline: timePtr(h.Deadline),
		FinishedAt: timePtr(h.FinishedAt), Failed: h.Failed, Detail: h.Detail}
	for _, t := range h.Targets {
		v.Targets = append(v.Targets, api.ChangeTarget{Name: t.Name, Arch: t.Arch, Version: t.Version})
	}
	return v
}

func changeEventsView(es []store.ChangeEvent) []api.ChangeEvent {
	out := make([]api.ChangeEvent, 0, len(es))
	for _, e := range es {
		out = append(out, api.ChangeEvent{At: e.At, Actor: e.Actor, Kind: e.Kind, Detail: e.Detail})
	}
	return out
}

func signOffView(so store.SignOff) api.SignOff {
	return api.SignOff{ChangeID: so.ChangeID, Group: so.Group, By: so.By, OK: so.OK, Problem: so.Problem, KBID: so.KBID, At: so.At}
}

func signOffsView(sos []store.SignOff) []api.SignOff {
	out := make([]api.SignOff, 0, len(sos))
	for _, so := range sos {
		out = append(out, signOffView(so))
	}
	return out
}

func retroNoteView(n store.RetroNote) api.RetroNote {
	return api.RetroNote{At: n.At, Author: n.Author, Kind: n.Kind, Text: n.Text}
}

func retroNotesView(ns []store.RetroNote) []api.RetroNote {
	out := make([]api.RetroNote, 0, len(ns))
	for _, n := range ns {
		out = append(out, retroNoteView(n))
	}
	return out
}
